import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { buildKubeconfig, type Kubeconfig, kubeconfigToYaml, readSingleKubeconfig } from './kubeconfig.ts';

const input = {
  clusterName: 'acme',
  server: 'https://10.0.0.1:6443',
  caCertificatePem: 'CA',
  userName: 'system:kube-scheduler',
  clientCertificatePem: 'CERT',
  clientKeyPem: 'KEY',
};

test('the hand-written YAML parses back to the same kubeconfig, with YAML and with the Kubernetes client', () => {
  const kubeconfig = buildKubeconfig(input);
  const yaml = kubeconfigToYaml(kubeconfig);
  assert.deepEqual(parse(yaml), kubeconfig);
  const loaded = new KubeConfig();
  loaded.loadFromString(yaml);
  assert.equal(loaded.getCurrentCluster()?.server, 'https://10.0.0.1:6443');
  assert.equal(loaded.getCurrentUser()?.name, 'system:kube-scheduler');
  assert.equal(Buffer.from(loaded.getCurrentUser()?.certData ?? '', 'base64').toString(), 'CERT');
});

test('a single-cluster kubeconfig is read back however it is quoted; anything else is not taken for one', () => {
  const expected = {
    server: 'https://10.0.0.1:6443',
    caCertificatePem: 'CA',
    clientCertificatePem: 'CERT',
    clientKeyPem: 'KEY',
  };
  const ours = kubeconfigToYaml(buildKubeconfig(input));
  assert.deepEqual(readSingleKubeconfig(ours), expected);
  const plain = ours.replaceAll('"', '');
  const single = ours.replace(/"([^"]*)"/g, "'$1'");
  const flowStyle = JSON.stringify(parse(ours));
  for (const yaml of [plain, single, flowStyle]) assert.deepEqual(readSingleKubeconfig(yaml), expected, yaml);

  const twoClusters = parse(ours) as Kubeconfig;
  twoClusters.clusters.push({ name: 'other', cluster: { server: 'https://x', 'certificate-authority-data': '' } });
  const { users: _users, ...noUsers } = parse(ours) as Kubeconfig;
  for (const yaml of [JSON.stringify(twoClusters), JSON.stringify(noUsers), 'clusters: [', '', 'just text']) {
    assert.equal(readSingleKubeconfig(yaml), undefined, yaml);
  }
});
