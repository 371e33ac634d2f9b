import assert from 'node:assert/strict';
import { test } from 'node:test';
import { adminNodeOwnerArguments, allocateAdminNode } from './admin-nodes.ts';
import { adminJoinRefusal } from './admin-nodes-owner.ts';
import { cniConflist } from './containerd.ts';
import { adminNodeLayout, MAX_ADMIN_NODES, stateLayout, workerLayout, workerRange } from './state.ts';

const admin = stateLayout('/var/lib/kamaji');
const prefix = admin.network.nodeAddress.replace(/\.2$/, '');

test('an added admin node is a box of its own on the admin bridge, addressed below the workers, with the admin Service range', () => {
  const layout = adminNodeLayout(admin, { name: 'kamaji-admin-2', index: 0 });
  assert.equal(layout.root, '/var/lib/kamaji/admin-nodes/kamaji-admin-2');
  assert.notEqual(layout.id, admin.id);
  assert.equal(layout.names.nodeName, 'kamaji-admin-2');
  assert.deepEqual(layout.uplink, { netns: admin.names.netns, bridge: admin.names.nodeBridge });
  assert.equal(layout.network.nodeAddress, `${prefix}.3`);
  assert.equal(layout.network.serviceSubnet, admin.network.serviceSubnet);
  assert.equal(layout.network.podSubnet, '', 'no pod range before the admin cluster allocates one');
  const last = adminNodeLayout(admin, { name: 'last', index: MAX_ADMIN_NODES - 1 });
  assert.equal(last.network.nodeAddress, `${prefix}.63`);
  const firstWorker = workerLayout(admin, { name: 'w', index: 0, serviceCidr: '10.96.0.0/16' });
  assert.equal(firstWorker.network.nodeAddress, `${prefix}.64`, 'the next address is the first worker');
  assert.equal(workerRange(admin), `${prefix}.64/26`, 'so no admin node is in the range admin pods may not dial');
  assert.throws(() => adminNodeLayout(admin, { name: 'x', index: MAX_ADMIN_NODES }), /outside 0\.\.60/);
});

test("an added node's CNI hands out its allocated range; the first node's, its own /24 of the cluster range", () => {
  const subnet = (conflist: string) =>
    (JSON.parse(conflist) as { plugins: { ipam?: { ranges: { subnet: string }[][] } }[] }).plugins[0]?.ipam
      ?.ranges[0]?.[0]?.subnet;
  const added = adminNodeLayout(admin, { name: 'kamaji-admin-2', index: 0, podCidr: '10.244.1.0/24' });
  assert.equal(subnet(cniConflist(added)), '10.244.1.0/24');
  assert.equal(subnet(cniConflist(admin)), '10.244.0.0/24');
  assert.equal(admin.network.podSubnet, '10.244.0.0/16', 'the cluster range stays what kubeadm and kube-proxy get');
});

test('admin nodes take the lowest free index and name from -2; the first node name and taken names are refused', () => {
  assert.deepEqual(allocateAdminNode([], 'kamaji-admin'), { name: 'kamaji-admin-2', index: 0 });
  const existing = [
    { name: 'kamaji-admin-2', index: 0 },
    { name: 'big', index: 2 },
  ];
  assert.deepEqual(allocateAdminNode(existing, 'kamaji-admin'), { name: 'kamaji-admin-3', index: 1 });
  assert.deepEqual(allocateAdminNode(existing, 'kamaji-admin', 'other'), { name: 'other', index: 1 });
  assert.throws(() => allocateAdminNode(existing, 'kamaji-admin', 'big'), /admin node named big exists already/);
  assert.throws(() => allocateAdminNode([], 'kamaji-admin', 'kamaji-admin'), /choose another --name/);
  const full = [...Array(MAX_ADMIN_NODES).keys()].map((index) => ({ name: `n${index}`, index }));
  assert.throws(() => allocateAdminNode(full, 'kamaji-admin'), /the most it can address .*remove one first/);
});

test('a node joins only when the first node keeps to its allocated pod range; the refusal says what to do', () => {
  assert.equal(adminJoinRefusal(admin, '10.244.0.0/24'), undefined);
  assert.match(
    adminJoinRefusal(admin, '10.244.3.0/24') ?? '',
    /allocated pod range 10\.244\.3\.0\/24.*kamaji down --purge/,
  );
  assert.match(adminJoinRefusal(admin, undefined) ?? '', /allocated pod range \(none\)/);
});

test("the owner process is `kamaji node run <name>` on the instance's state dir", () => {
  assert.deepEqual(adminNodeOwnerArguments(admin, 'kamaji-admin-2'), [
    'node',
    'run',
    'kamaji-admin-2',
    '--state-dir=/var/lib/kamaji',
  ]);
});
