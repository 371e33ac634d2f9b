import type { KubernetesObject } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { DefaultedTenantControlPlaneSpec } from '../../api/v1alpha1/defaults.ts';
import { checksum } from '../../controller/apply.ts';
import { builtinResources, type ResourceType } from '../../controller/kube-client.ts';
import type { TenantObject } from './objects.ts';

export { describeObject } from './objects.ts';

/**
 * What `kubeadm join` (and `kubeadm token create --print-join-command`) needs in a tenant cluster: the objects
 * kubeadm init's `bootstrap-token` and `upload-config` phases create, with the same names, rules and subjects.
 * Pure builders; the kubeadm phase applies them through the tenant's own API.
 */

/** Bumped when the objects built here change for the same settings, so that every tenant gets them re-applied. */
export const KUBEADM_OBJECTS_REVISION = 1;

/** The group every kubeadm bootstrap token (`kubeadm token create`) authenticates as. */
export const BOOTSTRAP_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';
/** The group kubeadm ≥ 1.29 puts admin.conf in, bound to cluster-admin (rather than system:masters). */
export const CLUSTER_ADMINS_GROUP = 'kubeadm:cluster-admins';

const rbac = 'rbac.authorization.k8s.io/v1';
export const rbacResources = {
  role: { apiVersion: rbac, kind: 'Role', plural: 'roles', namespaced: true },
  roleBinding: { apiVersion: rbac, kind: 'RoleBinding', plural: 'rolebindings', namespaced: true },
  clusterRole: { apiVersion: rbac, kind: 'ClusterRole', plural: 'clusterroles', namespaced: false },
  clusterRoleBinding: {
    apiVersion: rbac,
    kind: 'ClusterRoleBinding',
    plural: 'clusterrolebindings',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;

/** The tenant settings the objects derive from (all but the CA, which the phase reads from the tenant's Secret). */
export interface KubeadmSettings {
  /** The TCP's name, as ClusterConfiguration.clusterName. */
  clusterName: string;
  /** `vX.Y.Z`. */
  kubernetesVersion: string;
  /** Where workers reach the API server (the same endpoint as the admin kubeconfig). */
  endpointAddress: string;
  endpointPort: number;
  /** Comma-separated, as kubeadm takes dual-stack subnets. */
  podSubnet: string;
  serviceSubnet: string;
  dnsDomain: string;
  clusterDNS: readonly string[];
  cgroupDriver: 'systemd' | 'cgroupfs';
  imageRepository: string;
}

/** The settings of a tenant, from its defaulted spec and the endpoint the service phase observed. */
export function kubeadmSettings(
  name: string,
  spec: DefaultedTenantControlPlaneSpec,
  endpoint: { address: string; port: number },
): KubeadmSettings {
  const network = spec.networkProfile;
  return {
    clusterName: name,
    kubernetesVersion: spec.kubernetes.version,
    endpointAddress: endpoint.address,
    endpointPort: endpoint.port,
    podSubnet: network.podCidrs.join(','),
    serviceSubnet: network.serviceCidrs.join(','),
    dnsDomain: network.clusterDomain,
    clusterDNS: network.dnsServiceIPs,
    // kubeadm's default since 1.22.
    cgroupDriver: spec.kubernetes.kubelet.cgroupfs ?? 'systemd',
    imageRepository: spec.controlPlane.deployment.registrySettings.registry,
  };
}

export type KubeadmObject = TenantObject;

/**
 * The checksum recorded in `status.kubeadmPhase.bootstrapToken.checksum`: of the settings, the CA (by the checksum
 * of its Secret, so that no Secret is read to compare) and this builder's revision. Equal means nothing to apply.
 */
export function kubeadmObjectsChecksum(settings: KubeadmSettings, caSecretChecksum: string): string {
  return checksum([KUBEADM_OBJECTS_REVISION, settings, caSecretChecksum]);
}

/** `host:port`, an IPv6 address in brackets. */
export function hostPort(address: string, port: number): string {
  return `${address.includes(':') ? `[${address}]` : address}:${port}`;
}

/** kubeadm's config API: v1beta4 from kubeadm 1.31 (v1beta3 is gone in 1.35), v1beta3 before. */
export function kubeadmApiVersion(kubernetesVersion: string): string {
  const minor = Number(/^v?1\.(\d+)\./.exec(kubernetesVersion)?.[1] ?? 0);
  return minor >= 31 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3';
}

/**
 * The `kubeconfig` key of `kube-public/cluster-info`: one unnamed cluster (the CA and the endpoint workers use), no
 * user, as kubeadm writes it. The bootstrapsigner signs exactly this text for each bootstrap token.
 */
export function clusterInfoKubeconfig(settings: KubeadmSettings, caCertificatePem: string): string {
  const q = JSON.stringify;
  return [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${q(Buffer.from(caCertificatePem, 'utf8').toString('base64'))}`,
    `    server: ${q(`https://${hostPort(settings.endpointAddress, settings.endpointPort)}`)}`,
    '  name: ""',
    'contexts: null',
    'current-context: ""',
    'kind: Config',
    'preferences: {}',
    'users: null',
    '',
  ].join('\n');
}

/** The ClusterConfiguration kubeadm stores in `kube-system/kubeadm-config` (what `kubeadm join` and upgrade read). */
export function clusterConfiguration(settings: KubeadmSettings): string {
  return stringify({
    apiVersion: kubeadmApiVersion(settings.kubernetesVersion),
    kind: 'ClusterConfiguration',
    clusterName: settings.clusterName,
    kubernetesVersion: settings.kubernetesVersion,
    controlPlaneEndpoint: hostPort(settings.endpointAddress, settings.endpointPort),
    certificatesDir: '/etc/kubernetes/pki',
    imageRepository: settings.imageRepository,
    networking: {
      dnsDomain: settings.dnsDomain,
      podSubnet: settings.podSubnet,
      serviceSubnet: settings.serviceSubnet,
    },
  });
}

/** The KubeletConfiguration kubeadm stores in `kube-system/kubelet-config`, which every joining kubelet uses. */
export function kubeletConfiguration(settings: KubeadmSettings): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true, cacheTTL: '0s' },
      x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' },
    },
    authorization: { mode: 'Webhook', webhook: { cacheAuthorizedTTL: '0s', cacheUnauthorizedTTL: '0s' } },
    cgroupDriver: settings.cgroupDriver,
    clusterDNS: [...settings.clusterDNS],
    clusterDomain: settings.dnsDomain,
    rotateCertificates: true,
    staticPodPath: '/etc/kubernetes/manifests',
  });
}

const group = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name });
const user = (name: string) => ({ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name });
type Subject = ReturnType<typeof group>;

function readOneConfigMap(namespace: string, roleName: string, configMap: string, subjects: Subject[]) {
  return [
    {
      type: rbacResources.role,
      object: {
        apiVersion: rbac,
        kind: 'Role',
        metadata: { name: roleName, namespace },
        rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: [configMap], verbs: ['get'] }],
      } as KubernetesObject,
    },
    {
      type: rbacResources.roleBinding,
      object: {
        apiVersion: rbac,
        kind: 'RoleBinding',
        metadata: { name: roleName, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: roleName },
        subjects,
      } as KubernetesObject,
    },
  ];
}

function clusterRoleBinding(name: string, clusterRole: string, subjects: Subject[]): KubeadmObject {
  return {
    type: rbacResources.clusterRoleBinding,
    object: {
      apiVersion: rbac,
      kind: 'ClusterRoleBinding',
      metadata: { name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
      subjects,
    } as KubernetesObject,
  };
}

function configMap(namespace: string, name: string, data: Record<string, string>): KubeadmObject {
  return {
    type: builtinResources.configMap,
    object: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace }, data } as KubernetesObject,
  };
}

/**
 * Every object, in the order kubeadm init creates them: upload-config (kubeadm-config, kubelet-config and the
 * Roles letting nodes and bootstrap tokens read them), the cluster-admins binding, bootstrap-token (node
 * bootstrapper, get-nodes, CSR auto-approval for new nodes and for client certificate rotation) and cluster-info
 * with the Role letting anonymous read it.
 */
export function desiredKubeadmObjects(settings: KubeadmSettings, caCertificatePem: string): KubeadmObject[] {
  const bootstrappers = group(BOOTSTRAP_TOKEN_GROUP);
  const nodes = group('system:nodes');
  return [
    configMap('kube-system', 'kubeadm-config', { ClusterConfiguration: clusterConfiguration(settings) }),
    ...readOneConfigMap('kube-system', 'kubeadm:nodes-kubeadm-config', 'kubeadm-config', [bootstrappers, nodes]),
    configMap('kube-system', 'kubelet-config', { kubelet: kubeletConfiguration(settings) }),
    ...readOneConfigMap('kube-system', 'kubeadm:kubelet-config', 'kubelet-config', [nodes, bootstrappers]),
    clusterRoleBinding('kubeadm:cluster-admins', 'cluster-admin', [group(CLUSTER_ADMINS_GROUP)]),
    clusterRoleBinding('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', [bootstrappers]),
    {
      type: rbacResources.clusterRole,
      object: {
        apiVersion: rbac,
        kind: 'ClusterRole',
        metadata: { name: 'kubeadm:get-nodes' },
        rules: [{ apiGroups: [''], resources: ['nodes'], verbs: ['get'] }],
      } as KubernetesObject,
    },
    clusterRoleBinding('kubeadm:get-nodes', 'kubeadm:get-nodes', [bootstrappers]),
    clusterRoleBinding(
      'kubeadm:node-autoapprove-bootstrap',
      'system:certificates.k8s.io:certificatesigningrequests:nodeclient',
      [bootstrappers],
    ),
    clusterRoleBinding(
      'kubeadm:node-autoapprove-certificate-rotation',
      'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
      [nodes],
    ),
    configMap('kube-public', 'cluster-info', { kubeconfig: clusterInfoKubeconfig(settings, caCertificatePem) }),
    ...readOneConfigMap('kube-public', 'kubeadm:bootstrap-signer-clusterinfo', 'cluster-info', [
      user('system:anonymous'),
    ]),
  ];
}
