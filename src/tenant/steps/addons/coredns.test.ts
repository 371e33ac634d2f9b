import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyTenantControlPlaneDefaults } from '../../../api/v1alpha1/defaults.ts';
import type { TenantControlPlaneSpec } from '../../../api/v1alpha1/tenant-control-plane.ts';
import { describeObject } from '../objects.ts';
import { addonChecksum, LABEL_ADDON } from './common.ts';
import { COREDNS_REPLICAS, coreDNSImage, coreDNSObjects, coreDNSVersion, corefile } from './coredns.ts';

// biome-ignore lint/suspicious/noExplicitAny: the test walks plain objects freely
type Loose = Record<string, any>;

function specOf(overrides: Partial<TenantControlPlaneSpec> = {}) {
  return applyTenantControlPlaneDefaults({
    controlPlane: { service: { serviceType: 'NodePort' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
    addons: { coreDNS: {} },
    ...overrides,
  } as TenantControlPlaneSpec);
}
const byName = (objects: ReturnType<typeof coreDNSObjects>) =>
  new Map(objects.map((entry) => [describeObject(entry), entry.object as Loose]));

test("kubeadm's CoreDNS objects, every one labelled as the coredns addon's", () => {
  const objects = coreDNSObjects(specOf());
  assert.deepEqual(objects.map(describeObject), [
    'ServiceAccount kube-system/coredns',
    'ClusterRole system:coredns',
    'ClusterRoleBinding system:coredns',
    'ConfigMap kube-system/coredns',
    'Deployment kube-system/coredns',
    'Service kube-system/kube-dns',
  ]);
  for (const { object } of objects) assert.equal(object.metadata?.labels?.[LABEL_ADDON], 'coredns');
  const binding = byName(objects).get('ClusterRoleBinding system:coredns');
  assert.deepEqual(binding?.subjects, [{ kind: 'ServiceAccount', name: 'coredns', namespace: 'kube-system' }]);
});

test('the Service takes the first DNS Service IP (defaulted from the service CIDR, or set)', () => {
  assert.equal(byName(coreDNSObjects(specOf())).get('Service kube-system/kube-dns')?.spec.clusterIP, '10.96.0.10');
  const custom = specOf({ networkProfile: { serviceCidr: '10.32.0.0/16', dnsServiceIPs: ['10.32.0.53'] } });
  const service = byName(coreDNSObjects(custom)).get('Service kube-system/kube-dns');
  assert.equal(service?.spec.clusterIP, '10.32.0.53');
  assert.deepEqual(service?.spec.selector, { 'k8s-app': 'kube-dns' });
  assert.deepEqual(
    service?.spec.ports.map((port: Loose) => `${port.name}/${port.protocol}/${port.port}`),
    ['dns/UDP/53', 'dns-tcp/TCP/53', 'metrics/TCP/9153'],
  );
});

test('the Corefile serves the cluster domain', () => {
  const spec = specOf({ networkProfile: { clusterDomain: 'tenant.example' } });
  const data = byName(coreDNSObjects(spec)).get('ConfigMap kube-system/coredns')?.data;
  assert.equal(data?.Corefile, corefile('tenant.example'));
  assert.match(data?.Corefile, /kubernetes tenant\.example in-addr\.arpa ip6\.arpa \{/);
  assert.match(data?.Corefile, /disable success tenant\.example/);
  assert.match(data?.Corefile, /forward \. \/etc\/resolv\.conf/);
});

test("the CoreDNS version is kubeadm's for each minor", () => {
  assert.equal(coreDNSVersion('v1.33.1'), 'v1.12.0');
  assert.equal(coreDNSVersion('v1.34.4'), 'v1.12.1');
  assert.equal(coreDNSVersion('v1.35.4'), 'v1.13.1');
  assert.equal(coreDNSVersion('v1.36.0'), 'v1.14.2');
  assert.equal(coreDNSVersion('v1.37.2'), 'v1.14.6');
  assert.equal(coreDNSVersion('v1.38.0'), 'v1.14.6', 'a newer minor: the newest known');
});

test('the image: registry.k8s.io/coredns/coredns by default, overrides as kubeadm takes them', () => {
  assert.equal(coreDNSImage(specOf()), 'registry.k8s.io/coredns/coredns:v1.13.1');
  assert.equal(
    coreDNSImage(specOf({ addons: { coreDNS: { imageRepository: 'mirror.example/dns', imageTag: 'v1.11.0' } } })),
    'mirror.example/dns/coredns:v1.11.0',
  );
  const mirrored = specOf({
    controlPlane: {
      service: { serviceType: 'NodePort' },
      deployment: { registrySettings: { registry: 'mirror.example' } },
    },
  } as Partial<TenantControlPlaneSpec>);
  assert.equal(coreDNSImage(mirrored), 'mirror.example/coredns:v1.13.1', "the control plane's registry");
});

test("the Deployment: kubeadm's replicas, tolerations, pull policy and Corefile mount", () => {
  const deployment = byName(coreDNSObjects(specOf())).get('Deployment kube-system/coredns');
  assert.equal(deployment?.spec.replicas, COREDNS_REPLICAS);
  const pod = deployment?.spec.template.spec;
  assert.deepEqual(pod.tolerations, [
    { key: 'CriticalAddonsOnly', operator: 'Exists' },
    { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
  ]);
  assert.equal(pod.containers[0].imagePullPolicy, 'IfNotPresent');
  assert.equal(pod.containers[0].image, 'registry.k8s.io/coredns/coredns:v1.13.1');
  assert.deepEqual(pod.containers[0].args, ['-conf', '/etc/coredns/Corefile']);
  assert.equal(pod.dnsPolicy, 'Default');
  assert.deepEqual(deployment?.spec.selector.matchLabels, { 'k8s-app': 'kube-dns' });
});

test('the checksum follows the settings', () => {
  const base = addonChecksum(coreDNSObjects(specOf()));
  assert.equal(addonChecksum(coreDNSObjects(specOf())), base);
  assert.notEqual(addonChecksum(coreDNSObjects(specOf({ addons: { coreDNS: { imageTag: 'v1.12.0' } } }))), base);
});
