import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { stateLayout, workerLayout, workerRange } from './state.ts';
import { allocateWorker, kubeletPatch, validateWorkerName, workerJoinArgs } from './worker.ts';
import { podRoutes, workerMasquerade } from './worker-network.ts';
import { compareVersions, joinRefusal } from './worker-owner.ts';

const admin = stateLayout('/var/lib/kamaji');
const worker = (index: number, name = `demo-worker-${index + 1}`) =>
  workerLayout(admin, { name, index, serviceCidr: '10.96.0.0/16' });

test('a worker box is an instance of its own on the admin node subnet, uplinked to the admin bridge', () => {
  const layout = worker(0);
  assert.equal(layout.root, '/var/lib/kamaji/workers/demo-worker-1');
  assert.notEqual(layout.id, admin.id);
  assert.equal(layout.names.nodeName, 'demo-worker-1');
  assert.deepEqual(layout.uplink, { netns: admin.names.netns, bridge: admin.names.nodeBridge });
  const prefix = admin.network.nodeAddress.replace(/\.2$/, '');
  assert.equal(layout.network.nodeAddress, `${prefix}.64`);
  assert.equal(worker(63).network.nodeAddress, `${prefix}.127`);
  assert.equal(workerRange(admin), `${prefix}.64/26`);
  assert.equal(layout.network.podSubnet, '', 'no pod range before the tenant allocates one');
  assert.throws(() => worker(64), /outside 0\.\.63/);
});

test('workers take the lowest free index and name; a taken name is refused', () => {
  assert.deepEqual(allocateWorker([], 'demo'), { name: 'demo-worker-1', index: 0 });
  const existing = [
    { name: 'demo-worker-1', index: 0 },
    { name: 'other', index: 2 },
  ];
  assert.deepEqual(allocateWorker(existing, 'demo'), { name: 'demo-worker-2', index: 1 });
  assert.deepEqual(allocateWorker(existing, 'demo', 'big'), { name: 'big', index: 1 });
  assert.throws(() => allocateWorker(existing, 'demo', 'other'), /a worker named other exists already/);
});

test('worker names are DNS labels', () => {
  assert.equal(validateWorkerName('demo-worker-1'), undefined);
  for (const bad of ['Demo', '-a', 'a_b', 'x'.repeat(64)]) assert.match(validateWorkerName(bad) ?? '', /DNS label/);
});

test('join: the printed command plus what this machine needs', () => {
  const layout = worker(0);
  const args = workerJoinArgs({ endpoint: '172.30.3.2:31443', token: 't.x', caCertHash: 'sha256:1' }, layout, '/p');
  assert.deepEqual(args.slice(0, 6), [
    'join',
    '172.30.3.2:31443',
    '--token',
    't.x',
    '--discovery-token-ca-cert-hash',
    'sha256:1',
  ]);
  assert.ok(args.includes(`--cri-socket=unix://${layout.files.containerdSocket}`));
  assert.ok(args.includes('--node-name=demo-worker-1'));
  assert.ok(args.includes('--patches=/p'));
  assert.deepEqual(kubeletPatch(layout), {
    cgroupRoot: layout.names.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
  });
});

test('pod routes: one per other worker that has a range', () => {
  const peers = [
    { name: 'a', address: '172.30.3.64', podCidr: '10.244.0.0/24' },
    { name: 'b', address: '172.30.3.65', podCidr: '10.244.1.0/24' },
    { name: 'c', address: '172.30.3.66' },
  ];
  assert.deepEqual(podRoutes('a', peers), [{ cidr: '10.244.1.0/24', via: '172.30.3.65' }]);
});

test('pods leave masqueraded unless they talk to other pods', () => {
  assert.deepEqual(workerMasquerade(['10.244.0.0/16']), [
    [
      '-s',
      '10.244.0.0/16',
      '!',
      '-d',
      '10.244.0.0/16',
      '-m',
      'comment',
      '--comment',
      'kamaji: pods leave masqueraded',
      '-j',
      'MASQUERADE',
    ],
  ]);
});

const tcp = (status: string | undefined, version = 'v1.35.4'): TenantControlPlane =>
  ({
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    metadata: { name: 'demo', namespace: 'default' },
    spec: { controlPlane: {}, kubernetes: { version } },
    ...(status ? { status: { kubernetesResources: { version: { status, version } } } } : {}),
  }) as TenantControlPlane;

test('a worker joins a Ready tenant whose version is not older than its kubelet', () => {
  assert.equal(joinRefusal(tcp('Ready'), 'v1.35.4'), undefined);
  assert.equal(joinRefusal(tcp('Ready', 'v1.36.1'), 'v1.35.4'), undefined);
  assert.match(joinRefusal(tcp('Provisioning'), 'v1.35.4') ?? '', /default\/demo is Provisioning, not Ready/);
  assert.match(joinRefusal(tcp(undefined), 'v1.35.4') ?? '', /not provisioned yet/);
  assert.match(joinRefusal(tcp('Ready', 'v1.34.2'), 'v1.35.4') ?? '', /may not be newer than its API server/);
  assert.equal(compareVersions('v1.35.10', 'v1.35.9'), 1);
});
