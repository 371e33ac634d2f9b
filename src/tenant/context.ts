import type { DefaultedDeploymentSpec, DefaultedKonnectivitySpec } from '../api/v1alpha1/defaults.ts';
import type { KineDriver } from '../datastore/kine-endpoint.ts';
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
  /** spec.controlPlane.deployment with its defaults: replicas, images, extra args, scheduling, additions. */
  deployment: DefaultedDeploymentSpec;
  /** Where clients outside the admin cluster reach the API server: Service, node or load-balancer address... */
  endpointAddress: string;
  /** ...and port (the node port for a NodePort Service). */
  endpointPort: number;
  /** The address the API server advertises to the tenant's own `kubernetes` Service. */
  advertiseAddress: string;
  /** The API server's own port, also the Service port. */
  port: number;
  certSANs: readonly string[];
  clusterDomain: string;
  serviceCidr: string;
  podCidr: string;
  admissionControllers: readonly string[];
  kubeletPreferredAddressTypes: readonly string[];
  datastore: {
    /** etcd, reached by the API server; SQL or NATS, reached through the pod's kine container. */
    driver: 'etcd' | KineDriver;
    /** `host:port` endpoints of the DataStore. */
    endpoints: readonly string[];
    /** The tenant's key space is `/<schema>/`. */
    schema: string;
  };
  keyAlgorithm: KeyAlgorithm;
  /** spec.addons.konnectivity.server with its defaults; absent when Konnectivity is not enabled. */
  konnectivity?: DefaultedKonnectivitySpec['server'];
}
