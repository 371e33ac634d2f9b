import type { KubernetesObject } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { controllerReference } from '../../controller/apply.ts';

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
