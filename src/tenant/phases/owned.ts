import type { KubernetesObject } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { type ApiCaller, controllerReference } from '../../controller/apply.ts';
import { hasStatus, type ResourceType, resourcePath } from '../../controller/kube-client.ts';

/** The object with the TCP as its controller: garbage-collected with it, and recognised as its own at deletion. */
export function owned<T extends KubernetesObject>(tcp: TenantControlPlane, object: T): T {
  return { ...object, metadata: { ...object.metadata, ownerReferences: [controllerReference(tcp)] } };
}

/** Whether `object` is controlled by this very TCP (same UID), not by another one that had its name. */
export function isOwnedBy(object: KubernetesObject, tcp: TenantControlPlane): boolean {
  return (object.metadata?.ownerReferences ?? []).some(
    (reference) => reference.controller && reference.uid === tcp.metadata.uid,
  );
}

/** Deletes this very object (its UID as a precondition), not one created meanwhile under its name. */
export async function deleteExactly(client: ApiCaller, type: ResourceType, object: KubernetesObject): Promise<void> {
  const location = { namespace: object.metadata?.namespace, name: object.metadata?.name };
  await client
    .request('DELETE', resourcePath(type, location), {
      body: { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: object.metadata?.uid } },
    })
    .catch((error: unknown) => {
      // Already gone, or replaced by another object of that name (a 409 on the precondition): not ours to delete.
      if (!hasStatus(error, 404) && !hasStatus(error, 409)) throw error;
    });
}
