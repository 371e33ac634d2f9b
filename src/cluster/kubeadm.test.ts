import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { kubeadmConfig, kubeadmInitArgs } from './kubeadm.ts';
import { stateLayout } from './state.ts';

const layout = stateLayout('/var/lib/kamaji');

function documents(): Record<string, Record<string, unknown>> {
  const parsed = parseAllDocuments(kubeadmConfig(layout, 'v1.35.4')).map(
    (document) => document.toJS() as Record<string, unknown>,
  );
  return Object.fromEntries(parsed.map((document) => [document.kind as string, document]));
}

test('InitConfiguration: the node address, the instance containerd, no pulls, no taint', () => {
  const init = documents().InitConfiguration as {
    apiVersion: string;
    localAPIEndpoint: { advertiseAddress: string };
    nodeRegistration: Record<string, unknown>;
  };
  assert.equal(init.apiVersion, 'kubeadm.k8s.io/v1beta4');
  assert.equal(init.localAPIEndpoint.advertiseAddress, layout.network.nodeAddress);
  assert.deepEqual(init.nodeRegistration, {
    name: 'kamaji-admin',
    criSocket: 'unix:///var/lib/kamaji/containerd/containerd.sock',
    imagePullPolicy: 'Never',
    ignorePreflightErrors: ['all'],
    taints: [],
  });
});

test('ClusterConfiguration: the pinned version, the networks, kubelets reached by address', () => {
  const cluster = documents().ClusterConfiguration as {
    kubernetesVersion: string;
    networking: { podSubnet: string; serviceSubnet: string };
    apiServer: { extraArgs: { name: string; value: string }[] };
  };
  assert.equal(cluster.kubernetesVersion, 'v1.35.4');
  assert.deepEqual(cluster.networking, { podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' });
  assert.deepEqual(cluster.apiServer.extraArgs, [{ name: 'kubelet-preferred-address-types', value: 'InternalIP' }]);
});

test('KubeletConfiguration: cgroupfs on cgroup v1, swap tolerated, pods under the instance cgroup root', () => {
  const kubelet = documents().KubeletConfiguration;
  assert.equal(kubelet?.apiVersion, 'kubelet.config.k8s.io/v1beta1');
  assert.equal(kubelet?.cgroupDriver, 'cgroupfs');
  assert.equal(kubelet?.failCgroupV1, false);
  assert.equal(kubelet?.failSwapOn, false);
  assert.equal(kubelet?.cgroupRoot, `/kamaji-${layout.id}`);
});

test('init skips the CoreDNS and kube-proxy addons', () => {
  assert.deepEqual(kubeadmInitArgs('/c.yaml'), [
    'init',
    '--config=/c.yaml',
    '--skip-phases=addon/coredns,addon/kube-proxy',
  ]);
});
