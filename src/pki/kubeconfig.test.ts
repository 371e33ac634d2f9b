import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { buildKubeconfig, kubeconfigToYaml } from './kubeconfig.ts';

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
