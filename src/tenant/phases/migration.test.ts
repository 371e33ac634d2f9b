import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { backoffMs, FIRST_BACKOFF_MS, MAX_BACKOFF_MS, type MigrationRecord, migrationAction } from './migration.ts';
import { replacedServersMayRun } from './migration-completion.ts';
import { sameEntries } from './migration-io.ts';

const NOW = Date.parse('2026-12-01T07:00:00Z');
const record = (step: MigrationRecord['step'], extra: Partial<MigrationRecord> = {}): MigrationRecord => ({
  source: 'a',
  target: 'b',
  step,
  ...extra,
});

test('no migration while spec.dataStore is where the data is', () => {
  assert.deepEqual(migrationAction('a', 'a', undefined, NOW), { kind: 'none' });
});

test('a changed spec.dataStore starts a migration; one killed while copying starts again from the top', () => {
  const start = { kind: 'migrate', source: 'a', target: 'b', attempts: 0 };
  assert.deepEqual(migrationAction('a', 'b', undefined, NOW), start);
  assert.deepEqual(migrationAction('a', 'b', record('Copying'), NOW), start);
  assert.deepEqual(migrationAction('a', 'b', record('Copying', { attempts: 2 }), NOW), { ...start, attempts: 2 });
});

test('a switched migration is finished by the completion phase, whatever the spec says now', () => {
  for (const wanted of ['b', 'a', 'c']) {
    assert.deepEqual(migrationAction('b', wanted, record('Switched'), NOW), { kind: 'finishing' });
  }
});

test('a failed attempt is retried only after its backoff', () => {
  const failedAt = (msAgo: number) =>
    record('Failed', { attempts: 2, lastUpdate: new Date(NOW - msAgo).toISOString(), message: 'why' });
  const waiting = migrationAction('a', 'b', failedAt(1_000), NOW);
  assert.equal(waiting.kind, 'wait');
  assert.equal(waiting.kind === 'wait' && waiting.retryInMs, backoffMs(2) - 1_000);
  assert.deepEqual(migrationAction('a', 'b', failedAt(backoffMs(2)), NOW), {
    kind: 'migrate',
    source: 'a',
    target: 'b',
    attempts: 2,
  });
});

test('a copy or failure for a target the spec no longer names is abandoned (then the new one starts)', () => {
  for (const step of ['Copying', 'Failed'] as const) {
    assert.deepEqual(migrationAction('a', 'a', record(step), NOW), {
      kind: 'abandon',
      record: record(step),
      thenMigrate: false,
    });
    assert.deepEqual(migrationAction('a', 'c', record(step), NOW), {
      kind: 'abandon',
      record: record(step),
      thenMigrate: true,
    });
  }
});

test('the backoff doubles from 10 s up to 5 min', () => {
  assert.deepEqual([1, 2, 3, 4].map(backoffMs), [10_000, 20_000, 40_000, 80_000]);
  assert.equal(backoffMs(0), FIRST_BACKOFF_MS);
  assert.equal(backoffMs(30), MAX_BACKOFF_MS);
});

test('entries compare by key and value, in any order', () => {
  const entry = (key: string, value: string) => ({ key, value: Buffer.from(value) });
  const copied = [entry('a', '1'), entry('b', '2')];
  assert.equal(sameEntries(copied, [entry('b', '2'), entry('a', '1')]), true);
  assert.equal(sameEntries(copied, [entry('a', '1'), entry('b', '3')]), false);
  assert.equal(sameEntries(copied, [entry('a', '1')]), false);
  assert.equal(sameEntries(copied, [entry('a', '1'), entry('c', '2')]), false);
});

test('replaced control-plane pods may run while the Deployment counts terminating ones, or within their grace period', () => {
  const deployment = (status: V1Deployment['status'], grace?: number): V1Deployment => ({
    spec: { selector: {}, template: { spec: { containers: [], terminationGracePeriodSeconds: grace } } },
    status,
  });
  assert.equal(replacedServersMayRun(deployment({ terminatingReplicas: 1 }), NOW), true);
  assert.equal(replacedServersMayRun(deployment({ terminatingReplicas: 0 }), NOW), false);
  const progressed = (secondsAgo: number) => ({
    conditions: [
      {
        type: 'Progressing',
        status: 'True',
        lastUpdateTime: new Date(NOW - secondsAgo * 1000).toISOString() as unknown as Date,
      },
    ],
  });
  assert.equal(replacedServersMayRun(deployment(progressed(34)), NOW), true, '30 s grace and a margin');
  assert.equal(replacedServersMayRun(deployment(progressed(36)), NOW), false);
  assert.equal(replacedServersMayRun(deployment(progressed(8), 2), NOW), false, "the pod's own grace period");
  assert.equal(replacedServersMayRun(deployment({}), NOW), true, 'nothing known: assume they may');
});
