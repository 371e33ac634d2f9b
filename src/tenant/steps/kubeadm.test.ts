import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { applyTenantControlPlaneDefaults } from '../../api/v1alpha1/defaults.ts';
import {
  BOOTSTRAP_TOKEN_GROUP,
  clusterInfoKubeconfig,
  describeObject,
  desiredKubeadmObjects,
  type KubeadmSettings,
  kubeadmApiVersion,
  kubeadmSettings,
} from './kubeadm.ts';

const settings: KubeadmSettings = {
  clusterName: 'acme',
  kubernetesVersion: 'v1.35.4',
  endpointAddress: '10.0.0.5',
  endpointPort: 31443,
  podSubnet: '10.244.0.0/16',
  serviceSubnet: '10.96.0.0/16',
  dnsDomain: 'cluster.local',
  clusterDNS: ['10.96.0.10'],
  cgroupDriver: 'cgroupfs',
  imageRepository: 'registry.k8s.io',
};
const CA = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';

// biome-ignore lint/suspicious/noExplicitAny: the test walks parsed YAML and plain objects freely
type Loose = Record<string, any>;
const byName = (objects: ReturnType<typeof desiredKubeadmObjects>) =>
  new Map(objects.map((entry) => [describeObject(entry), entry.object as Loose]));

test('the objects are the ones kubeadm init creates, by kind, namespace and name', () => {
  assert.deepEqual(
    desiredKubeadmObjects(settings, CA).map(describeObject).sort(),
    [
      'ClusterRole kubeadm:get-nodes',
      'ClusterRoleBinding kubeadm:cluster-admins',
      'ClusterRoleBinding kubeadm:get-nodes',
      'ClusterRoleBinding kubeadm:kubelet-bootstrap',
      'ClusterRoleBinding kubeadm:node-autoapprove-bootstrap',
      'ClusterRoleBinding kubeadm:node-autoapprove-certificate-rotation',
      'ConfigMap kube-public/cluster-info',
      'ConfigMap kube-system/kubeadm-config',
      'ConfigMap kube-system/kubelet-config',
      'Role kube-public/kubeadm:bootstrap-signer-clusterinfo',
      'Role kube-system/kubeadm:kubelet-config',
      'Role kube-system/kubeadm:nodes-kubeadm-config',
      'RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo',
      'RoleBinding kube-system/kubeadm:kubelet-config',
      'RoleBinding kube-system/kubeadm:nodes-kubeadm-config',
    ].sort(),
  );
});

test('bindings grant what kubeadm grants, to the subjects kubeadm names', () => {
  const objects = byName(desiredKubeadmObjects(settings, CA));
  const binding = (name: string) => {
    const object = objects.get(name);
    assert.ok(object, name);
    return {
      role: `${object.roleRef.kind}/${object.roleRef.name}`,
      subjects: object.subjects.map((subject: Loose) => `${subject.kind}/${subject.name}`),
    };
  };
  const bootstrappers = `Group/${BOOTSTRAP_TOKEN_GROUP}`;
  assert.deepEqual(binding('ClusterRoleBinding kubeadm:kubelet-bootstrap'), {
    role: 'ClusterRole/system:node-bootstrapper',
    subjects: [bootstrappers],
  });
  assert.deepEqual(binding('ClusterRoleBinding kubeadm:node-autoapprove-bootstrap'), {
    role: 'ClusterRole/system:certificates.k8s.io:certificatesigningrequests:nodeclient',
    subjects: [bootstrappers],
  });
  assert.deepEqual(binding('ClusterRoleBinding kubeadm:node-autoapprove-certificate-rotation'), {
    role: 'ClusterRole/system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    subjects: ['Group/system:nodes'],
  });
  assert.deepEqual(binding('ClusterRoleBinding kubeadm:get-nodes'), {
    role: 'ClusterRole/kubeadm:get-nodes',
    subjects: [bootstrappers],
  });
  assert.deepEqual(binding('ClusterRoleBinding kubeadm:cluster-admins'), {
    role: 'ClusterRole/cluster-admin',
    subjects: ['Group/kubeadm:cluster-admins'],
  });
  assert.deepEqual(binding('RoleBinding kube-public/kubeadm:bootstrap-signer-clusterinfo'), {
    role: 'Role/kubeadm:bootstrap-signer-clusterinfo',
    subjects: ['User/system:anonymous'],
  });
  assert.deepEqual(binding('RoleBinding kube-system/kubeadm:nodes-kubeadm-config').subjects.sort(), [
    bootstrappers,
    'Group/system:nodes',
  ]);
  assert.deepEqual(binding('RoleBinding kube-system/kubeadm:kubelet-config').subjects.sort(), [
    bootstrappers,
    'Group/system:nodes',
  ]);
  // Each Role reads exactly its one ConfigMap.
  for (const [role, configMap] of [
    ['Role kube-public/kubeadm:bootstrap-signer-clusterinfo', 'cluster-info'],
    ['Role kube-system/kubeadm:nodes-kubeadm-config', 'kubeadm-config'],
    ['Role kube-system/kubeadm:kubelet-config', 'kubelet-config'],
  ] as const) {
    assert.deepEqual(objects.get(role)?.rules, [
      { apiGroups: [''], resources: ['configmaps'], resourceNames: [configMap], verbs: ['get'] },
    ]);
  }
  assert.deepEqual(objects.get('ClusterRole kubeadm:get-nodes')?.rules, [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get'] },
  ]);
});

test('cluster-info holds one cluster: the tenant CA and the endpoint workers use, no credentials', () => {
  const kubeconfig = parse(clusterInfoKubeconfig(settings, CA)) as Loose;
  assert.equal(kubeconfig.kind, 'Config');
  assert.equal(kubeconfig.clusters.length, 1);
  assert.equal(kubeconfig.clusters[0].cluster.server, 'https://10.0.0.5:31443');
  assert.equal(Buffer.from(kubeconfig.clusters[0].cluster['certificate-authority-data'], 'base64').toString(), CA);
  assert.equal(kubeconfig.users, null);
  const ipv6 = parse(clusterInfoKubeconfig({ ...settings, endpointAddress: 'fd00::5' }, CA)) as Loose;
  assert.equal(ipv6.clusters[0].cluster.server, 'https://[fd00::5]:31443');
});

test('kubeadm-config and kubelet-config carry the tenant settings', () => {
  const objects = byName(desiredKubeadmObjects(settings, CA));
  const cluster = parse(objects.get('ConfigMap kube-system/kubeadm-config')?.data.ClusterConfiguration) as Loose;
  assert.equal(cluster.apiVersion, 'kubeadm.k8s.io/v1beta4');
  assert.equal(cluster.kind, 'ClusterConfiguration');
  assert.equal(cluster.kubernetesVersion, 'v1.35.4');
  assert.equal(cluster.controlPlaneEndpoint, '10.0.0.5:31443');
  assert.deepEqual(cluster.networking, {
    dnsDomain: 'cluster.local',
    podSubnet: '10.244.0.0/16',
    serviceSubnet: '10.96.0.0/16',
  });
  const kubelet = parse(objects.get('ConfigMap kube-system/kubelet-config')?.data.kubelet) as Loose;
  assert.equal(kubelet.kind, 'KubeletConfiguration');
  assert.deepEqual(kubelet.clusterDNS, ['10.96.0.10']);
  assert.equal(kubelet.clusterDomain, 'cluster.local');
  assert.equal(kubelet.cgroupDriver, 'cgroupfs');
  assert.equal(kubelet.authentication.x509.clientCAFile, '/etc/kubernetes/pki/ca.crt');
});

test('the kubeadm config API follows the tenant version', () => {
  assert.equal(kubeadmApiVersion('v1.35.4'), 'kubeadm.k8s.io/v1beta4');
  assert.equal(kubeadmApiVersion('v1.31.0'), 'kubeadm.k8s.io/v1beta4');
  assert.equal(kubeadmApiVersion('v1.30.9'), 'kubeadm.k8s.io/v1beta3');
});

test('settings come from the defaulted spec: DNS IPs, dual-stack subnets, cgroup driver defaulting to systemd', () => {
  const spec = applyTenantControlPlaneDefaults({
    controlPlane: { service: { serviceType: 'NodePort' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
    networkProfile: {
      serviceCidrs: ['10.96.0.0/16', 'fd00::/108'],
      podCidrs: ['10.244.0.0/16', 'fd01::/64'],
      clusterDomain: 'tenant.local',
    },
  } as Parameters<typeof applyTenantControlPlaneDefaults>[0]);
  const derived = kubeadmSettings('acme', spec, { address: '10.0.0.5', port: 31443 });
  assert.equal(derived.podSubnet, '10.244.0.0/16,fd01::/64');
  assert.equal(derived.serviceSubnet, '10.96.0.0/16,fd00::/108');
  assert.deepEqual(derived.clusterDNS, spec.networkProfile.dnsServiceIPs);
  assert.equal(derived.dnsDomain, 'tenant.local');
  assert.equal(derived.cgroupDriver, 'systemd');
  const cgroupfs = applyTenantControlPlaneDefaults({
    ...spec,
    kubernetes: { version: 'v1.35.4', kubelet: { cgroupfs: 'cgroupfs' } },
  } as Parameters<typeof applyTenantControlPlaneDefaults>[0]);
  assert.equal(kubeadmSettings('acme', cgroupfs, { address: '10.0.0.5', port: 31443 }).cgroupDriver, 'cgroupfs');
});
