import type { KubernetesObject, V1Deployment, V1Service } from '@kubernetes/client-node';
import type { DefaultedTenantControlPlaneSpec } from '../../../api/v1alpha1/defaults.ts';
import type { TenantObject } from '../objects.ts';
import {
  addonResources,
  clusterRoleBinding,
  KUBE_SYSTEM,
  kubernetesMinor,
  labelled,
  serviceAccount,
  serviceAccountSubject,
  tenantObject,
} from './common.ts';

/**
 * CoreDNS as kubeadm's `addon/coredns` phase deploys it (cmd/kubeadm/app/phases/addons/dns/manifests.go, the same
 * from v1.34 to v1.37): ServiceAccount, ClusterRole and ClusterRoleBinding `system:coredns`, ConfigMap `coredns`
 * (the Corefile), Deployment `coredns` and Service `kube-dns` on the tenant's DNS Service IP.
 */

/** `CoreDNSVersion` in cmd/kubeadm/app/constants/constants.go of each minor's kubeadm. */
export const COREDNS_VERSIONS: Readonly<Record<number, string>> = {
  33: 'v1.12.0', // k8s.io/kubernetes v1.33.13
  34: 'v1.12.1', // v1.34.4
  35: 'v1.13.1', // v1.35.4
  36: 'v1.14.2', // v1.36.3
  37: 'v1.14.6', // v1.37.2
};

/** kubeadm's default registry: its CoreDNS image lives one level down, at registry.k8s.io/coredns/coredns. */
const DEFAULT_REGISTRY = 'registry.k8s.io';
/** As kubeadm: two, spread over nodes when there are several (preferred anti-affinity), both on one otherwise. */
export const COREDNS_REPLICAS = 2;

/** The CoreDNS kubeadm deploys for a Kubernetes version (the newest known for a newer minor). */
export function coreDNSVersion(kubernetesVersion: string): string {
  const minor = kubernetesMinor(kubernetesVersion);
  const known = Object.keys(COREDNS_VERSIONS).map(Number);
  const pick = known.includes(minor) ? minor : minor > Math.max(...known) ? Math.max(...known) : Math.min(...known);
  return COREDNS_VERSIONS[pick] ?? 'v1.13.1';
}

/**
 * `<repository>/coredns:<tag>` as kubeadm's GetDNSImage: the repository is `addons.coreDNS.imageRepository`, else
 * the control plane's registry; registry.k8s.io gets `/coredns` appended. The tag is `imageTag`, else kubeadm's.
 */
export function coreDNSImage(spec: DefaultedTenantControlPlaneSpec): string {
  const override = spec.addons?.coreDNS ?? {};
  let repository = override.imageRepository || spec.controlPlane.deployment.registrySettings.registry;
  if (repository === DEFAULT_REGISTRY) repository = `${repository}/coredns`;
  return `${repository}/coredns:${override.imageTag || coreDNSVersion(spec.kubernetes.version)}`;
}

/** kubeadm's Corefile for a cluster domain. */
export function corefile(clusterDomain: string): string {
  return [
    '.:53 {',
    '    errors',
    '    health {',
    '       lameduck 5s',
    '    }',
    '    ready',
    `    kubernetes ${clusterDomain} in-addr.arpa ip6.arpa {`,
    '       pods insecure',
    '       fallthrough in-addr.arpa ip6.arpa',
    '       ttl 30',
    '    }',
    '    prometheus :9153',
    '    forward . /etc/resolv.conf {',
    '       max_concurrent 1000',
    '    }',
    '    cache 30 {',
    `       disable success ${clusterDomain}`,
    `       disable denial ${clusterDomain}`,
    '    }',
    '    loop',
    '    reload',
    '    loadbalance',
    '}',
    '',
  ].join('\n');
}

const kubeDns = { 'k8s-app': 'kube-dns' };

function deployment(image: string): V1Deployment {
  return {
    metadata: { name: 'coredns', namespace: KUBE_SYSTEM, labels: { ...kubeDns } },
    spec: {
      replicas: COREDNS_REPLICAS,
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      selector: { matchLabels: { ...kubeDns } },
      template: {
        metadata: { labels: { ...kubeDns } },
        spec: {
          priorityClassName: 'system-cluster-critical',
          serviceAccountName: 'coredns',
          affinity: {
            podAntiAffinity: {
              preferredDuringSchedulingIgnoredDuringExecution: [
                {
                  weight: 100,
                  podAffinityTerm: {
                    labelSelector: { matchExpressions: [{ key: 'k8s-app', operator: 'In', values: ['kube-dns'] }] },
                    topologyKey: 'kubernetes.io/hostname',
                  },
                },
              ],
            },
          },
          tolerations: [
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
          ],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          containers: [
            {
              name: 'coredns',
              image,
              imagePullPolicy: 'IfNotPresent',
              resources: { limits: { memory: '170Mi' }, requests: { cpu: '100m', memory: '70Mi' } },
              args: ['-conf', '/etc/coredns/Corefile'],
              volumeMounts: [{ name: 'config-volume', mountPath: '/etc/coredns', readOnly: true }],
              ports: [
                { containerPort: 53, name: 'dns', protocol: 'UDP' },
                { containerPort: 53, name: 'dns-tcp', protocol: 'TCP' },
                { containerPort: 9153, name: 'metrics', protocol: 'TCP' },
                { containerPort: 8080, name: 'liveness-probe', protocol: 'TCP' },
                { containerPort: 8181, name: 'readiness-probe', protocol: 'TCP' },
              ],
              livenessProbe: {
                httpGet: { path: '/health', port: 'liveness-probe', scheme: 'HTTP' },
                initialDelaySeconds: 60,
                timeoutSeconds: 5,
                successThreshold: 1,
                failureThreshold: 5,
              },
              readinessProbe: { httpGet: { path: '/ready', port: 'readiness-probe', scheme: 'HTTP' } },
              securityContext: {
                allowPrivilegeEscalation: false,
                capabilities: { add: ['NET_BIND_SERVICE'], drop: ['ALL'] },
                readOnlyRootFilesystem: true,
              },
            },
          ],
          dnsPolicy: 'Default',
          volumes: [
            { name: 'config-volume', configMap: { name: 'coredns', items: [{ key: 'Corefile', path: 'Corefile' }] } },
          ],
        },
      },
    },
  };
}

function service(clusterIP: string): V1Service {
  return {
    metadata: {
      name: 'kube-dns',
      namespace: KUBE_SYSTEM,
      labels: { ...kubeDns, 'kubernetes.io/cluster-service': 'true', 'kubernetes.io/name': 'CoreDNS' },
      annotations: { 'prometheus.io/port': '9153', 'prometheus.io/scrape': 'true' },
    },
    spec: {
      clusterIP,
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
        { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
        { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
      ],
      selector: { ...kubeDns },
    },
  };
}

/** Every CoreDNS object for the tenant, in kubeadm's order, labelled as the coreDNS addon's. */
export function coreDNSObjects(spec: DefaultedTenantControlPlaneSpec): TenantObject[] {
  const network = spec.networkProfile;
  const dnsIP = network.dnsServiceIPs[0];
  if (!dnsIP) throw new Error('spec.networkProfile.dnsServiceIPs is empty: CoreDNS needs a Service IP');
  return labelled('coreDNS', [
    serviceAccount('coredns'),
    tenantObject(addonResources.clusterRole, {
      metadata: { name: 'system:coredns' },
      rules: [
        { apiGroups: [''], resources: ['endpoints', 'services', 'pods', 'namespaces'], verbs: ['list', 'watch'] },
        { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['list', 'watch'] },
      ],
    } as KubernetesObject),
    clusterRoleBinding('system:coredns', 'system:coredns', [serviceAccountSubject('coredns')]),
    tenantObject(addonResources.configMap, {
      metadata: { name: 'coredns', namespace: KUBE_SYSTEM },
      data: { Corefile: corefile(network.clusterDomain) },
    } as KubernetesObject),
    tenantObject(addonResources.deployment, deployment(coreDNSImage(spec))),
    tenantObject(addonResources.service, service(dnsIP)),
  ]);
}
