import type { V1ConfigMap } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { applyIfChanged, checksum, readObject } from '../../controller/apply.ts';
import { builtinResources } from '../../controller/kube-client.ts';
import type { TenantContext } from '../context.ts';
import { objectNames } from '../names.ts';
import { desiredEgressSelectorConfigMap } from '../steps/konnectivity.ts';
import { deleteExactly, isOwnedBy, owned } from './owned.ts';
import type { PipelineDependencies, StatusUpdate } from './phase.ts';

/** The Secrets Konnectivity adds; removed again (when this TCP controls them) once it is disabled. */
export function konnectivitySecretNames(tcp: string): string[] {
  const names = objectNames(tcp);
  return [names.konnectivityCertificateSecret, names.konnectivityKubeconfigSecret];
}

/**
 * The egress selector ConfigMap: applied (when its checksum annotation differs) while Konnectivity is enabled,
 * deleted when it is not and this TCP controls it (the owner reference covers a removal the status never recorded). Returns its name and the checksum of its data.
 */
export async function reconcileEgressConfigMap(
  deps: Pick<PipelineDependencies, 'client'>,
  tcp: TenantControlPlane,
  context: TenantContext,
): Promise<{ name: string; checksum: string } | undefined> {
  const name = objectNames(context.name).konnectivityEgressConfigMap;
  const location = { namespace: context.namespace, name };
  // No call for a tenant that never had it or whose removal was completed (the status says so once it is done).
  if (!context.konnectivity && tcp.status?.addons?.konnectivity?.enabled !== true) return undefined;
  const live = await readObject<V1ConfigMap>(deps.client, builtinResources.configMap, location);
  if (!context.konnectivity) {
    if (live && isOwnedBy(live, tcp)) await deleteExactly(deps.client, builtinResources.configMap, live);
    return undefined;
  }
  const desired = owned(tcp, desiredEgressSelectorConfigMap(context));
  await applyIfChanged(deps.client, builtinResources.configMap, desired, live);
  return { name, checksum: checksum(desired.data) };
}

/**
 * `status.addons.konnectivity` as a phase saw it: `enabled` and the given entries while enabled; once disabled,
 * `enabled: false` and the given keys removed (null, a merge-patch deletion) where the status still has them.
 * Nothing at all for a tenant that never had Konnectivity.
 */
export function konnectivityStatus(
  tcp: TenantControlPlane,
  enabled: boolean,
  entries: Record<string, unknown>,
): StatusUpdate {
  const current = tcp.status?.addons?.konnectivity as Record<string, unknown> | undefined;
  if (enabled) return { addons: { konnectivity: { enabled: true, ...entries } } } as StatusUpdate;
  if (!current) return {};
  const cleared = Object.fromEntries(
    Object.keys(entries)
      .filter((key) => key in current)
      .map((key) => [key, null]),
  );
  return { addons: { konnectivity: { enabled: false, ...cleared } } } as StatusUpdate;
}
