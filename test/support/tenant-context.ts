import { applyTenantControlPlaneDefaults } from '../../src/api/v1alpha1/defaults.ts';
import type { TenantContext } from '../../src/tenant/context.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';

/** spec.controlPlane.deployment as the API server would default an empty one. */
export function defaultedDeployment(): TenantContext['deployment'] {
  return applyTenantControlPlaneDefaults({
    controlPlane: { service: { serviceType: 'ClusterIP' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
  }).controlPlane.deployment;
}

/** A complete tenant context for builder tests; override what a test is about. */
export function sampleContext(overrides: Partial<TenantContext> = {}): TenantContext {
  return {
    name: 'acme',
    namespace: 'tenants',
    version: 'v1.35.4',
    deployment: defaultedDeployment(),
    endpointAddress: '10.0.0.50',
    endpointPort: 6443,
    advertiseAddress: '10.0.0.50',
    port: 6443,
    certSANs: ['api.acme.example'],
    clusterDomain: 'cluster.local',
    serviceCidr: '10.96.0.0/16',
    podCidr: '10.244.0.0/16',
    admissionControllers: ['NamespaceLifecycle', 'NodeRestriction'],
    kubeletPreferredAddressTypes: ['InternalIP', 'ExternalIP', 'Hostname'],
    datastore: { driver: 'etcd', endpoints: ['127.0.0.1:2379'], schema: 'tenants_acme' },
    keyAlgorithm: 'ECDSA-P256',
    ...overrides,
  };
}

/** A tenant whose API server runs as a process on this host's loopback, on `port`, at the toolchain's version. */
export function loopbackContext(port: number, overrides: Partial<TenantContext> = {}): TenantContext {
  return sampleContext({
    version: KUBERNETES_VERSION,
    endpointAddress: '127.0.0.1',
    advertiseAddress: '127.0.0.1',
    port,
    endpointPort: port,
    ...overrides,
  });
}
