import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cniConflist, containerdConfig, ctrArgs } from './containerd.ts';
import { PAUSE_IMAGE } from './image-references.ts';
import { stateLayout } from './state.ts';

const layout = stateLayout('/var/lib/kamaji');

test('containerd keeps root, state and socket in the state dir and uses cgroupfs', () => {
  const config = containerdConfig(layout);
  assert.match(config, /^root = "\/var\/lib\/kamaji\/containerd\/root"$/m);
  assert.match(config, /^state = "\/var\/lib\/kamaji\/containerd\/state"$/m);
  assert.match(config, /^ {2}address = "\/var\/lib\/kamaji\/containerd\/containerd\.sock"$/m);
  assert.match(config, /^ {2}SystemdCgroup = false$/m);
  assert.doesNotMatch(config, /"\/(opt|run|etc)\//, 'no host path of its own');
});

test('the CRI plugin never lowers oom_score_adj, uses the imported pause image and Debian CNI plugins', () => {
  const config = containerdConfig(layout);
  assert.match(config, /^ {2}restrict_oom_score_adj = true$/m);
  assert.ok(config.includes(`sandbox_image = "${PAUSE_IMAGE}"`));
  assert.match(config, /^ {2}bin_dir = "\/usr\/lib\/cni"$/m);
  assert.match(config, /^ {2}conf_dir = "\/var\/lib\/kamaji\/cni\/net\.d"$/m);
});

test("the pod network: a bridge with host-local addresses from the node's share of the pod subnet, and portmap", () => {
  const conflist = JSON.parse(cniConflist(layout)) as {
    plugins: { type: string; isGateway?: boolean; ipam?: { ranges: { subnet: string }[][]; dataDir: string } }[];
  };
  assert.deepEqual(
    conflist.plugins.map((plugin) => plugin.type),
    ['bridge', 'portmap'],
  );
  const [bridge] = conflist.plugins;
  assert.equal(bridge?.isGateway, true);
  assert.equal(
    bridge?.ipam?.ranges[0]?.[0]?.subnet,
    '10.244.0.0/24',
    "the admin Node's allocated range, not all of 10.244.0.0/16",
  );
  assert.equal(bridge?.ipam?.dataDir, '/var/lib/kamaji/cni/ipam');
});

test('ctr talks to this instance only', () => {
  assert.deepEqual(ctrArgs(layout, 'k8s.io', ['images', 'ls']), [
    '--address',
    '/var/lib/kamaji/containerd/containerd.sock',
    '--namespace',
    'k8s.io',
    'images',
    'ls',
  ]);
});

test('with a mirror, each named registry is fetched from it over plain HTTP; without one, no mirror table', () => {
  const mirror = { endpoint: 'http://172.30.5.2:5000', registries: ['registry.k8s.io', 'docker.io'] };
  const config = containerdConfig(layout, { mirror });
  for (const registry of mirror.registries) {
    const table = `[plugins."io.containerd.grpc.v1.cri".registry.mirrors."${registry}"]\n  endpoint = ["http://172.30.5.2:5000"]\n`;
    assert.ok(config.includes(table), `a mirror table for ${registry}`);
  }
  assert.doesNotMatch(containerdConfig(layout), /registry\.mirrors/);
  assert.equal(containerdConfig(layout, {}), containerdConfig(layout), 'no options is the old config');
});
