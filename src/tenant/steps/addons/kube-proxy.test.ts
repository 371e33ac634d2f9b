import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { applyTenantControlPlaneDefaults } from '../../../api/v1alpha1/defaults.ts';
import type { TenantControlPlaneSpec } from '../../../api/v1alpha1/tenant-control-plane.ts';
import { describeObject } from '../objects.ts';
import { LABEL_ADDON } from './common.ts';
import { kubeProxyImage, kubeProxyObjects } from './kube-proxy.ts';

// biome-ignore lint/suspicious/noExplicitAny: the test walks parsed YAML and plain objects freely
type Loose = Record<string, any>;

const ENDPOINT = { address: '10.0.0.5', port: 31443 };
function specOf(overrides: Partial<TenantControlPlaneSpec> = {}) {
  return applyTenantControlPlaneDefaults({
    controlPlane: { service: { serviceType: 'NodePort' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
    addons: { kubeProxy: {} },
    ...overrides,
  } as TenantControlPlaneSpec);
}
const byName = (objects: ReturnType<typeof kubeProxyObjects>) =>
  new Map(objects.map((entry) => [describeObject(entry), entry.object as Loose]));

test("kubeadm's kube-proxy objects, every one labelled as the kube-proxy addon's", () => {
  const objects = kubeProxyObjects(specOf(), ENDPOINT);
  assert.deepEqual(objects.map(describeObject), [
    'ServiceAccount kube-system/kube-proxy',
    'ClusterRoleBinding kubeadm:node-proxier',
    'Role kube-system/kube-proxy',
    'RoleBinding kube-system/kube-proxy',
    'ConfigMap kube-system/kube-proxy',
    'DaemonSet kube-system/kube-proxy',
  ]);
  for (const { object } of objects) assert.equal(object.metadata?.labels?.[LABEL_ADDON], 'kube-proxy');
  const named = byName(objects);
  assert.deepEqual(named.get('ClusterRoleBinding kubeadm:node-proxier')?.roleRef.name, 'system:node-proxier');
  assert.deepEqual(named.get('RoleBinding kube-system/kube-proxy')?.subjects, [
    { apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'system:bootstrappers:kubeadm:default-node-token' },
  ]);
});

test('config.conf: iptables, the pod CIDR, conntrack left alone; kubeconfig.conf: the tenant endpoint and the SA token', () => {
  const data = byName(kubeProxyObjects(specOf({ networkProfile: { podCidr: '10.200.0.0/16' } }), ENDPOINT)).get(
    'ConfigMap kube-system/kube-proxy',
  )?.data;
  const config = parse(data['config.conf']);
  assert.equal(config.kind, 'KubeProxyConfiguration');
  assert.equal(config.apiVersion, 'kubeproxy.config.k8s.io/v1alpha1');
  assert.equal(config.mode, 'iptables');
  assert.equal(config.clusterCIDR, '10.200.0.0/16');
  assert.deepEqual(config.conntrack, { maxPerCore: 0 });
  assert.equal(config.clientConnection.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
  const kubeconfig = parse(data['kubeconfig.conf']);
  assert.equal(kubeconfig.clusters[0].cluster.server, 'https://10.0.0.5:31443');
  assert.equal(
    kubeconfig.clusters[0].cluster['certificate-authority'],
    '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
  );
  assert.equal(kubeconfig.users[0].user.tokenFile, '/var/run/secrets/kubernetes.io/serviceaccount/token');
  const ipv6 = byName(kubeProxyObjects(specOf(), { address: 'fd00::5', port: 6443 })).get(
    'ConfigMap kube-system/kube-proxy',
  )?.data;
  assert.equal(parse(ipv6['kubeconfig.conf']).clusters[0].cluster.server, 'https://[fd00::5]:6443');
});

test("the DaemonSet: host network, privileged, kubeadm's mounts and command", () => {
  const daemonSet = byName(kubeProxyObjects(specOf(), ENDPOINT)).get('DaemonSet kube-system/kube-proxy');
  const pod = daemonSet?.spec.template.spec;
  assert.equal(pod.hostNetwork, true);
  assert.equal(pod.containers[0].securityContext.privileged, true);
  assert.deepEqual(pod.containers[0].command, [
    '/usr/local/bin/kube-proxy',
    '--config=/var/lib/kube-proxy/config.conf',
    '--hostname-override=$(NODE_NAME)',
  ]);
  assert.deepEqual(
    pod.volumes.map((volume: Loose) => volume.hostPath?.path ?? volume.configMap?.name),
    ['kube-proxy', '/run/xtables.lock', '/lib/modules'],
  );
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
  assert.equal(pod.containers[0].image, 'registry.k8s.io/kube-proxy:v1.35.4');
  assert.equal(pod.containers[0].imagePullPolicy, 'IfNotPresent');
});

test('the image: the tenant version from the control plane registry, or the overrides', () => {
  assert.equal(kubeProxyImage(specOf()), 'registry.k8s.io/kube-proxy:v1.35.4');
  assert.equal(
    kubeProxyImage(specOf({ addons: { kubeProxy: { imageRepository: 'mirror.example', imageTag: 'v1.35.4-x' } } })),
    'mirror.example/kube-proxy:v1.35.4-x',
  );
});
