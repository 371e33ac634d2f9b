import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendJson, startFakeApiServer } from '../../test/support/fake-api-server.ts';
import { waitFor } from '../util/wait.ts';
import { LeaderElector, type LeadershipEnd, type LeaseSpec, mayHoldLease, microTime } from './leader-election.ts';
import { discardLog } from './log.ts';

test('lease times carry exactly six fractional digits, as metav1.MicroTime requires', () => {
  assert.equal(microTime(Date.UTC(2025, 0, 2, 3, 4, 5, 678)), '2025-01-02T03:04:05.678000Z');
});

test('a lease may be taken when free, held by oneself, or unchanged for its whole duration', () => {
  const held: LeaseSpec = { holderIdentity: 'other', leaseDurationSeconds: 15 };
  assert.equal(mayHoldLease({}, 'me', 0, 0), true);
  assert.equal(mayHoldLease({ ...held, holderIdentity: '' }, 'me', 0, 0), true);
  assert.equal(mayHoldLease({ ...held, holderIdentity: 'me' }, 'me', 0, 0), true);
  assert.equal(mayHoldLease(held, 'me', 1_000, 15_999), false);
  assert.equal(mayHoldLease(held, 'me', 1_000, 16_000), true);
});

/** A Lease endpoint with compare-and-swap on resourceVersion; `failing` makes every call answer 500. */
async function fakeLeaseServer() {
  let lease: { metadata: { resourceVersion?: string }; spec?: LeaseSpec } | undefined;
  let version = 0;
  const state = { failing: false };
  const api = await startFakeApiServer((request, response) => {
    if (state.failing) return sendJson(response, 500, { message: 'etcd is away' });
    if (request.method === 'GET') return lease ? sendJson(response, 200, lease) : sendJson(response, 404, {});
    const body = JSON.parse(request.body) as NonNullable<typeof lease>;
    const conflict =
      request.method === 'POST'
        ? lease !== undefined
        : body.metadata.resourceVersion !== lease?.metadata.resourceVersion;
    if (conflict) return sendJson(response, 409, { code: 409, reason: 'Conflict', message: 'changed' });
    version += 1;
    lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(version) } };
    sendJson(response, 200, lease);
  });
  /** Another replica writes the lease, as after it saw it expire. */
  const takeOver = (holderIdentity: string) => {
    version += 1;
    lease = {
      metadata: { ...lease?.metadata, resourceVersion: String(version) },
      spec: { ...lease?.spec, holderIdentity, leaseDurationSeconds: 15, renewTime: microTime(Date.now()) },
    };
  };
  return { api, state, lease: () => lease, takeOver };
}

const fastTiming = { leaseDurationMs: 600, renewDeadlineMs: 400, retryPeriodMs: 50 };

test('a leader whose renewals fail steps down within the renew deadline and does not release', async () => {
  const { api, state, lease } = await fakeLeaseServer();
  const timeline: string[] = [];
  const elector = new LeaderElector({
    client: api.client,
    namespace: 'ns',
    name: 'kamaji',
    identity: 'replica-a',
    ...fastTiming,
    onStartedLeading: (leadership) => {
      timeline.push('started');
      leadership.addEventListener('abort', () => timeline.push('leadership aborted'));
    },
    onStoppedLeading: (end) => timeline.push(`stopped: ${end.reason}`),
    log: discardLog,
  });
  try {
    elector.start();
    await waitFor(async () => (elector.isLeader() ? true : undefined), { timeoutMs: 2_000, description: 'leading' });
    assert.equal(lease()?.spec?.holderIdentity, 'replica-a');
    assert.equal(elector.leader, 'replica-a');
    assert.equal(lease()?.spec?.leaseTransitions, 0);
    const failedAt = Date.now();
    state.failing = true;
    await waitFor(async () => (elector.isLeader() ? undefined : true), { timeoutMs: 2_000, description: 'step down' });
    const tookMs = Date.now() - failedAt;
    assert.ok(tookMs < fastTiming.leaseDurationMs, `stepped down after ${tookMs} ms, not before the lease expired`);
    assert.ok(tookMs >= fastTiming.renewDeadlineMs - fastTiming.retryPeriodMs, `stepped down after only ${tookMs} ms`);
    assert.deepEqual(timeline, ['started', 'leadership aborted', 'stopped: lost']);
  } finally {
    await elector.stop();
    await api.close();
  }
});

test('a leader that finds the lease held by another replica steps down at its next renewal, not at the deadline', async () => {
  const { api, lease, takeOver } = await fakeLeaseServer();
  const timing = { leaseDurationMs: 6_000, renewDeadlineMs: 4_000, retryPeriodMs: 50 };
  const ends: LeadershipEnd[] = [];
  const elector = new LeaderElector({
    client: api.client,
    namespace: 'ns',
    name: 'kamaji',
    identity: 'replica-a',
    ...timing,
    onStoppedLeading: (end) => ends.push(end),
    log: discardLog,
  });
  try {
    elector.start();
    await waitFor(async () => (elector.isLeader() ? true : undefined), { timeoutMs: 2_000, description: 'leading' });
    const takenAt = Date.now();
    takeOver('replica-b');
    await waitFor(async () => (elector.isLeader() ? undefined : true), { timeoutMs: 5_000, description: 'step down' });
    const tookMs = Date.now() - takenAt;
    assert.ok(tookMs < 10 * timing.retryPeriodMs, `stepped down after ${tookMs} ms`);
    assert.equal(ends.length, 1);
    assert.equal(ends[0]?.reason, 'lost');
    assert.match(ends[0]?.reason === 'lost' ? ends[0].detail : '', /held by replica-b/);
    await elector.stop();
    assert.equal(lease()?.spec?.holderIdentity, 'replica-b', 'a replica that lost the lease neither takes it back');
    assert.equal(ends.length, 1, 'nor reports a second end on stop');
  } finally {
    await elector.stop();
    await api.close();
  }
});

test('stop ends leadership with reason stopped', async () => {
  const { api } = await fakeLeaseServer();
  const ends: LeadershipEnd[] = [];
  const elector = new LeaderElector({
    client: api.client,
    namespace: 'ns',
    name: 'kamaji',
    identity: 'a',
    ...fastTiming,
    onStoppedLeading: (end) => ends.push(end),
  });
  try {
    elector.start();
    await waitFor(async () => (elector.isLeader() ? true : undefined), { timeoutMs: 2_000, description: 'leading' });
    await elector.stop();
    assert.deepEqual(ends, [{ reason: 'stopped' }]);
  } finally {
    await api.close();
  }
});

test('stop releases the lease by clearing holderIdentity; the next holder counts a transition', async () => {
  const { api, lease } = await fakeLeaseServer();
  const first = new LeaderElector({
    client: api.client,
    namespace: 'ns',
    name: 'kamaji',
    identity: 'a',
    ...fastTiming,
  });
  const second = new LeaderElector({
    client: api.client,
    namespace: 'ns',
    name: 'kamaji',
    identity: 'b',
    ...fastTiming,
  });
  try {
    first.start();
    await waitFor(async () => (first.isLeader() ? true : undefined), { timeoutMs: 2_000, description: 'a leads' });
    second.start();
    await first.stop();
    assert.equal(lease()?.spec?.holderIdentity, undefined);
    await waitFor(async () => (second.isLeader() ? true : undefined), { timeoutMs: 2_000, description: 'b leads' });
    assert.equal(lease()?.spec?.holderIdentity, 'b');
    assert.equal(lease()?.spec?.leaseTransitions, 1);
  } finally {
    await Promise.all([first.stop(), second.stop()]);
    await api.close();
  }
});

test('the timing must let a leader step down before others may take over', () => {
  const options = { client: undefined as never, namespace: 'ns', name: 'l', identity: 'x' };
  assert.throws(
    () => new LeaderElector({ ...options, leaseDurationMs: 10_000, renewDeadlineMs: 10_000 }),
    /renewDeadline/,
  );
});
