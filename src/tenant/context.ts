import type { KeyAlgorithm } from '../pki/certificates.ts';

/**
 * Everything the tenant builders need, resolved once from a defaulted TenantControlPlane and what was observed
 * (the Service's address, the DataStore). Builders take this, never the raw object, so they stay small and pure.
 */
export interface TenantContext {
  name: string;
  namespace: string;
  /** Kubernetes version, `vX.Y.Z`. */
  version: string;
  registry: string;
  replicas: number;
  /** The address clients use to reach the API server (Service or load balancer address). */
  endpointAddress: string;
  /** The address the API server advertises to the tenant's own `kubernetes` Service. */
  advertiseAddress: string;
  port: number;
  certSANs: readonly string[];
  clusterDomain: string;
  serviceCidr: string;
  podCidr: string;
  admissionControllers: readonly string[];
  kubeletPreferredAddressTypes: readonly string[];
  extraArgs: {
    apiServer: readonly string[];
    controllerManager: readonly string[];
    scheduler: readonly string[];
  };
  datastore: {
    /** `host:port` endpoints of the shared etcd. */
    endpoints: readonly string[];
    /** The tenant's key space is `/<schema>/`. */
    schema: string;
  };
  keyAlgorithm: KeyAlgorithm;
}
