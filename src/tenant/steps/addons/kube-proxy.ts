import type { KubernetesObject, V1DaemonSet } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { DefaultedTenantControlPlaneSpec } from '../../../api/v1alpha1/defaults.ts';
import { BOOTSTRAP_TOKEN_GROUP, hostPort } from '../kubeadm.ts';
import type { TenantObject } from '../objects.ts';
import {
  addonResources,
  clusterRoleBinding,
  groupSubject,
  KUBE_SYSTEM,
  labelled,
  serviceAccount,
  serviceAccountSubject,
  tenantObject,
} from './common.ts';

/**
 * kube-proxy as kubeadm's `addon/kube-proxy` phase deploys it (cmd/kubeadm/app/phases/addons/proxy): ServiceAccount
 * `kube-proxy`, ClusterRoleBinding `kubeadm:node-proxier` to `system:node-proxier`, Role and RoleBinding
 * `kube-proxy` letting joining nodes (bootstrap tokens) read the ConfigMap `kube-proxy`, and the DaemonSet.
 */

/** Where the ConfigMap appears in the pod, and its keys (kubeadm's). */
const CONFIG_DIR = '/var/lib/kube-proxy';
export const KUBE_PROXY_CONFIG_KEY = 'config.conf';
export const KUBE_PROXY_KUBECONFIG_KEY = 'kubeconfig.conf';
/** The service-account token and CA every pod gets. */
const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** `<repository>/kube-proxy:<tag>`: `addons.kubeProxy.imageRepository`/`imageTag`, else the control plane's. */
export function kubeProxyImage(spec: DefaultedTenantControlPlaneSpec): string {
  const override = spec.addons?.kubeProxy ?? {};
  const repository = override.imageRepository || spec.controlPlane.deployment.registrySettings.registry;
  // kubeadm's KubernetesVersionToImageTag: `+` is not allowed in a tag.
  return `${repository}/kube-proxy:${(override.imageTag || spec.kubernetes.version).replaceAll('+', '_')}`;
}

/**
 * The KubeProxyConfiguration: kubeadm's defaults that matter (bind address, cluster CIDR, the kubeconfig path),
 * iptables mode, and `conntrack.maxPerCore: 0` so that kube-proxy leaves the node's nf_conntrack_max as it is.
 */
export function kubeProxyConfiguration(spec: DefaultedTenantControlPlaneSpec): string {
  const network = spec.networkProfile;
  const ipv6 = (network.podCidrs[0] ?? '').includes(':');
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    bindAddress: ipv6 ? '::' : '0.0.0.0',
    clientConnection: { kubeconfig: `${CONFIG_DIR}/${KUBE_PROXY_KUBECONFIG_KEY}` },
    clusterCIDR: network.podCidrs.join(','),
    conntrack: { maxPerCore: 0 },
    mode: 'iptables',
  });
}

/** kubeadm's in-cluster kubeconfig: the endpoint workers use, the pod's service-account CA and token. */
export function kubeProxyKubeconfig(endpoint: { address: string; port: number }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        cluster: {
          'certificate-authority': `${SA_DIR}/ca.crt`,
          server: `https://${hostPort(endpoint.address, endpoint.port)}`,
        },
        name: 'default',
      },
    ],
    contexts: [{ context: { cluster: 'default', namespace: 'default', user: 'default' }, name: 'default' }],
    'current-context': 'default',
    users: [{ name: 'default', user: { tokenFile: `${SA_DIR}/token` } }],
  });
}

function daemonSet(image: string): V1DaemonSet {
  const labels = { 'k8s-app': 'kube-proxy' };
  return {
    metadata: { name: 'kube-proxy', namespace: KUBE_SYSTEM, labels: { ...labels } },
    spec: {
      selector: { matchLabels: { ...labels } },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          priorityClassName: 'system-node-critical',
          containers: [
            {
              name: 'kube-proxy',
              image,
              imagePullPolicy: 'IfNotPresent',
              command: [
                '/usr/local/bin/kube-proxy',
                `--config=${CONFIG_DIR}/${KUBE_PROXY_CONFIG_KEY}`,
                '--hostname-override=$(NODE_NAME)',
              ],
              securityContext: { privileged: true },
              volumeMounts: [
                { mountPath: CONFIG_DIR, name: 'kube-proxy' },
                { mountPath: '/run/xtables.lock', name: 'xtables-lock', readOnly: false },
                { mountPath: '/lib/modules', name: 'lib-modules', readOnly: true },
              ],
              env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
            },
          ],
          hostNetwork: true,
          serviceAccountName: 'kube-proxy',
          volumes: [
            { name: 'kube-proxy', configMap: { name: 'kube-proxy' } },
            { name: 'xtables-lock', hostPath: { path: '/run/xtables.lock', type: 'FileOrCreate' } },
            { name: 'lib-modules', hostPath: { path: '/lib/modules' } },
          ],
          tolerations: [{ operator: 'Exists' }],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
        },
      },
    },
  };
}

/** Every kube-proxy object, in kubeadm's order, labelled as the kubeProxy addon's. */
export function kubeProxyObjects(
  spec: DefaultedTenantControlPlaneSpec,
  endpoint: { address: string; port: number },
): TenantObject[] {
  return labelled('kubeProxy', [
    serviceAccount('kube-proxy'),
    clusterRoleBinding('kubeadm:node-proxier', 'system:node-proxier', [serviceAccountSubject('kube-proxy')]),
    tenantObject(addonResources.role, {
      metadata: { name: 'kube-proxy', namespace: KUBE_SYSTEM },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['kube-proxy'], verbs: ['get'] }],
    } as KubernetesObject),
    tenantObject(addonResources.roleBinding, {
      metadata: { name: 'kube-proxy', namespace: KUBE_SYSTEM },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kube-proxy' },
      subjects: [groupSubject(BOOTSTRAP_TOKEN_GROUP)],
    } as KubernetesObject),
    tenantObject(addonResources.configMap, {
      metadata: { name: 'kube-proxy', namespace: KUBE_SYSTEM, labels: { app: 'kube-proxy' } },
      data: {
        [KUBE_PROXY_KUBECONFIG_KEY]: kubeProxyKubeconfig(endpoint),
        [KUBE_PROXY_CONFIG_KEY]: kubeProxyConfiguration(spec),
      },
    } as KubernetesObject),
    tenantObject(addonResources.daemonSet, daemonSet(kubeProxyImage(spec))),
  ]);
}
