import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boxPath, instanceId, stateLayout } from './state.ts';

test('every path of an instance lies in its state dir, and names outside it carry the instance id', () => {
  const layout = stateLayout('/var/lib/kamaji');
  const paths = [
    ...Object.values(layout.dirs),
    ...Object.values(layout.files),
    ...layout.boxMounts.map((m) => m.source),
  ];
  for (const path of paths) assert.ok(path.startsWith('/var/lib/kamaji/'), path);
  assert.match(layout.id, /^[0-9a-f]{8}$/);
  for (const name of [layout.names.netns, layout.names.nodeBridge, layout.names.hostLink, layout.names.cgroupRoot]) {
    assert.ok(name.includes(layout.id), name);
  }
  for (const link of [layout.names.nodeBridge, layout.names.hostLink, layout.names.nodeLink]) {
    assert.ok(link.length <= 15, `${link} fits IFNAMSIZ`);
  }
});

test('two state dirs share no name, path or node subnet', () => {
  const a = stateLayout('/var/lib/kamaji');
  const b = stateLayout('/tmp/kamaji-second');
  assert.notEqual(a.id, b.id);
  for (const key of Object.keys(a.names) as (keyof typeof a.names)[]) {
    if (key !== 'nodeName') assert.notEqual(a.names[key], b.names[key], key);
  }
  assert.notEqual(a.network.nodeAddress, b.network.nodeAddress);
});

test('the id depends on the absolute path only', () => {
  assert.equal(instanceId('/var/lib/kamaji/'), instanceId('/var/lib/kamaji'));
  assert.equal(stateLayout('/var/lib/../lib/kamaji').id, stateLayout('/var/lib/kamaji').id);
});

test('the host and the node share the node subnet; the node address is the one kubeadm advertises', () => {
  const { network } = stateLayout('/var/lib/kamaji');
  const subnet = (address: string) => address.split('.').slice(0, 3).join('.');
  assert.equal(subnet(network.hostAddress), subnet(network.nodeAddress));
  assert.notEqual(network.hostAddress, network.nodeAddress);
  assert.equal(network.prefixLength, 24);
});

test('a path the node sees under a bind mount is found in the state dir', () => {
  const layout = stateLayout('/srv/k');
  assert.equal(boxPath(layout, '/etc/kubernetes', 'admin.conf'), '/srv/k/box/etc/kubernetes/admin.conf');
});
