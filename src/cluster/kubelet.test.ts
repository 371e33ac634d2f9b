import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubeletArgs, parseKubeadmFlags } from './kubelet.ts';

test('kubeadm-flags.env: the quoted flag list, quoted or not', () => {
  const env = 'KUBELET_KUBEADM_ARGS="--hostname-override=kamaji-admin --pod-infra-container-image=x"\n';
  assert.deepEqual(parseKubeadmFlags(env), ['--hostname-override=kamaji-admin', '--pod-infra-container-image=x']);
  assert.deepEqual(parseKubeadmFlags('KUBELET_KUBEADM_ARGS=--a=b\n'), ['--a=b']);
  assert.deepEqual(parseKubeadmFlags(''), []);
});

test("the kubelet gets kubeadm's files, kubeadm's flags, then the node address", () => {
  assert.deepEqual(kubeletArgs(['--hostname-override=n'], '172.30.1.2'), [
    '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
    '--kubeconfig=/etc/kubernetes/kubelet.conf',
    '--config=/var/lib/kubelet/config.yaml',
    '--hostname-override=n',
    '--node-ip=172.30.1.2',
  ]);
});
