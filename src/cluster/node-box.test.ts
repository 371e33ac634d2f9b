import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  addressHolders,
  boxCommand,
  bridgeMac,
  cgroupMountPoints,
  mountsToUnmount,
  parseMountInfo,
} from './node-box.ts';
import { stateLayout } from './state.ts';

const mountinfo = [
  '22 27 0:21 / /proc rw,relatime - proc proc rw',
  '30 27 0:26 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu',
  '31 27 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '40 27 0:30 /x /var/lib/kubelet rw - ext4 /dev/vda rw',
  '41 40 0:31 / /var/lib/kubelet/pods/a/volumes/kubernetes.io~projected/kube-api-access rw - tmpfs tmpfs rw',
  '42 27 0:4 net:[4026532] /run/netns/cni-1 rw - nsfs nsfs rw',
  '43 27 0:30 /y /srv/my\\040state rw - ext4 /dev/vda rw',
].join('\n');

test('mountinfo: mount points (octal escapes undone) and file system types, in mount order', () => {
  const mounts = parseMountInfo(mountinfo);
  assert.equal(mounts.length, 7);
  assert.deepEqual(mounts[1], { point: '/sys/fs/cgroup/cpu', fsType: 'cgroup' });
  assert.deepEqual(mounts[5], { point: '/run/netns/cni-1', fsType: 'nsfs' });
  assert.equal(mounts[6]?.point, '/srv/my state');
});

test('cgroup hierarchies: every v1 controller and the unified one', () => {
  assert.deepEqual(cgroupMountPoints(mountinfo), ['/sys/fs/cgroup/cpu', '/sys/fs/cgroup/unified']);
});

test('mounts to unmount: those at or below the roots, deepest first', () => {
  const points = parseMountInfo(mountinfo).map((mount) => mount.point);
  assert.deepEqual(mountsToUnmount(points, ['/var/lib/kubelet', '/run/netns']), [
    '/var/lib/kubelet/pods/a/volumes/kubernetes.io~projected/kube-api-access',
    '/run/netns/cni-1',
    '/var/lib/kubelet',
  ]);
  assert.deepEqual(mountsToUnmount(points, ['/var/lib/kube']), [], 'a sibling sharing a prefix is not inside');
  assert.deepEqual(mountsToUnmount(points, ['/']).length, points.length);
});

test('mounts stacked on one point come off in reverse order', () => {
  assert.deepEqual(mountsToUnmount(['/a', '/a', '/a/b'], ['/a']), ['/a/b', '/a', '/a']);
});

test('a box command enters the node netns by its file and the mount namespace through the holder', () => {
  const layout = stateLayout('/var/lib/kamaji');
  const { command, args } = boxCommand({ layout, holderPid: 42 }, 'kubelet', ['--v=2']);
  assert.equal(command, 'nsenter');
  assert.deepEqual(args, [
    `--net=/var/run/netns/kamaji-${layout.id}`,
    '--mount=/proc/42/ns/mnt',
    '--',
    'kubelet',
    '--v=2',
  ]);
});

test('the links carrying an address, as `ip -o -4 addr show` lists them', () => {
  const listing = [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '2: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\\       valid_lft forever',
    '9: kmjh-07c3da1f    inet 172.30.7.1/24 scope global kmjh-07c3da1f\\       valid_lft forever',
  ].join('\n');
  assert.deepEqual(addressHolders(listing, '172.30.7.1'), ['kmjh-07c3da1f']);
  assert.deepEqual(addressHolders(listing, '172.30.7.11'), []);
});

test("a node bridge's MAC is its own, fixed by the instance id (not its lowest port's), unicast and local", () => {
  assert.equal(bridgeMac('3b6710c8'), '02:6b:3b:67:10:c8');
  const admin = stateLayout('/var/lib/kamaji');
  assert.match(bridgeMac(admin.id), /^02:6b(:[0-9a-f]{2}){4}$/);
  assert.notEqual(bridgeMac(admin.id), bridgeMac(stateLayout('/var/lib/kamaji/workers/w').id));
});
