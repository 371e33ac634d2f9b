import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { kubeProxyConfig } from './kube-proxy.ts';
import { stateLayout } from './state.ts';

test('kube-proxy: iptables mode for the pod subnet, its own kubeconfig, the host conntrack table untouched', () => {
  const layout = stateLayout('/var/lib/kamaji');
  const config = parse(kubeProxyConfig(layout)) as Record<string, unknown>;
  assert.equal(config.kind, 'KubeProxyConfiguration');
  assert.equal(config.mode, 'iptables');
  assert.equal(config.clusterCIDR, '10.244.0.0/16');
  assert.equal(config.hostnameOverride, 'kamaji-admin');
  assert.deepEqual(config.clientConnection, { kubeconfig: '/var/lib/kamaji/config/kube-proxy.kubeconfig' });
  assert.deepEqual(config.conntrack, { maxPerCore: 0 });
  assert.deepEqual(config.nodePortAddresses, ['primary']);
});
