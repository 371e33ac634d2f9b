/**
 * Names of the objects Kamaji owns for a TenantControlPlane. They follow upstream Kamaji exactly, because Cluster
 * API and users' tooling read them by name (e.g. `<tcp>-admin-kubeconfig`, `<tcp>-ca`).
 */
export function objectNames(tcp: string) {
  return {
    service: tcp,
    deployment: tcp,
    caSecret: `${tcp}-ca`,
    frontProxyCaSecret: `${tcp}-front-proxy-ca-certificate`,
    serviceAccountSecret: `${tcp}-sa-certificate`,
    apiServerCertificateSecret: `${tcp}-api-server-certificate`,
    kubeletClientCertificateSecret: `${tcp}-api-server-kubelet-client-certificate`,
    frontProxyClientCertificateSecret: `${tcp}-front-proxy-client-certificate`,
    adminKubeconfigSecret: `${tcp}-admin-kubeconfig`,
    controllerManagerKubeconfigSecret: `${tcp}-controller-manager-kubeconfig`,
    schedulerKubeconfigSecret: `${tcp}-scheduler-kubeconfig`,
    datastoreConfigSecret: `${tcp}-datastore-config`,
    datastoreCertificateSecret: `${tcp}-datastore-certificate`,
    konnectivityCertificateSecret: `${tcp}-konnectivity-certificate`,
    konnectivityKubeconfigSecret: `${tcp}-konnectivity-kubeconfig`,
    konnectivityEgressConfigMap: `${tcp}-konnectivity-egress-selector-configuration`,
  } as const;
}

export type ObjectNames = ReturnType<typeof objectNames>;

/** Labels on every owned object: which tenant, and which part of it. */
export const LABEL_TENANT = 'kamaji.clastix.io/name';
export const LABEL_COMPONENT = 'kamaji.clastix.io/component';
/** Checksum of an owned object's managed content: equal checksum, no write. */
export const ANNOTATION_CHECKSUM = 'kamaji.clastix.io/checksum';
/** Set on a TCP to renew all of its certificates once. */
export const ANNOTATION_ROTATE = 'certs.kamaji.clastix.io/rotate';

export function ownedLabels(tcp: string, component: string): Record<string, string> {
  return { [LABEL_TENANT]: tcp, [LABEL_COMPONENT]: component };
}
