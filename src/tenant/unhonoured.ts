import type { TenantControlPlaneSpec } from '../api/v1alpha1/tenant-control-plane.ts';
import type { ConditionInput } from './conditions.ts';

/**
 * Fields the API accepts (so that upstream manifests apply unchanged) but this operator does not act on yet.
 * Reported in the `FieldsHonoured` condition so a user knows what is ignored, rather than guessing.
 */
export function unhonouredFields(spec: TenantControlPlaneSpec): string[] {
  const deployment = spec.controlPlane.deployment;
  const network = spec.networkProfile;
  const writes = spec.writePermissions;
  const checks: [string, boolean][] = [
    ['spec.controlPlane.ingress', spec.controlPlane.ingress !== undefined],
    ['spec.controlPlane.gateway', spec.controlPlane.gateway !== undefined],
    [
      'spec.controlPlane.service.allocateLoadBalancerNodePorts',
      spec.controlPlane.service.allocateLoadBalancerNodePorts !== undefined,
    ],
    ['spec.networkProfile.allowAddressAsExternalIP', network?.allowAddressAsExternalIP === true],
    ['spec.controlPlane.service.additionalPorts', (spec.controlPlane.service.additionalPorts?.length ?? 0) > 0],
    ['spec.controlPlane.deployment.probes', deployment?.probes !== undefined],
    ['spec.dataStoreOverrides', (spec.dataStoreOverrides?.length ?? 0) > 0],
    ['spec.writePermissions', Boolean(writes?.blockCreation || writes?.blockUpdate || writes?.blockDeletion)],
    [
      'spec.kubernetes.kubelet.configurationJSONPatches',
      (spec.kubernetes.kubelet.configurationJSONPatches?.length ?? 0) > 0,
    ],
    ['spec.networkProfile.serviceCidrs (dual stack)', (network?.serviceCidrs?.length ?? 0) > 1],
    ['spec.networkProfile.podCidrs (dual stack)', (network?.podCidrs?.length ?? 0) > 1],
  ];
  return checks.filter(([, set]) => set).map(([field]) => field);
}

/** The `FieldsHonoured` condition: informational, not part of `Ready`. */
export function fieldsHonouredCondition(spec: TenantControlPlaneSpec): ConditionInput {
  const ignored = unhonouredFields(spec);
  return ignored.length === 0
    ? {
        type: 'FieldsHonoured',
        status: 'True',
        reason: 'AllHonoured',
        message: 'every field set in the spec is acted on',
      }
    : {
        type: 'FieldsHonoured',
        status: 'False',
        reason: 'NotImplementedYet',
        message: `accepted and kept, but not acted on yet: ${ignored.join(', ')}`,
      };
}
