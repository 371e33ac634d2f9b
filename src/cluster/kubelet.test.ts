import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INOTIFY_FLOORS, kubeletArgs, parseKubeadmFlags, raisedSettings } from './kubelet.ts';

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

test('inotify limits are raised to their floors, never lowered', () => {
  assert.deepEqual(
    raisedSettings({ 'fs.inotify.max_user_instances': 128, 'fs.inotify.max_user_watches': 1_000_000 }, INOTIFY_FLOORS),
    [['fs.inotify.max_user_instances', 8192]],
  );
  assert.deepEqual(
    raisedSettings({ 'fs.inotify.max_user_instances': 10_000, 'fs.inotify.max_user_watches': 524288 }, INOTIFY_FLOORS),
    [],
  );
});
