import assert from 'node:assert/strict';
import { test } from 'node:test';
import { jsonLine, textLine } from './log.ts';

const AT = new Date('2026-12-01T04:00:00.000Z');

test('json lines carry ts, level, msg and the object as fields, as controller-runtime names them', () => {
  const line = jsonLine(AT, 'reconcile failed', {
    level: 'error',
    controller: 'tenantcontrolplane',
    namespace: 'tenants',
    name: 'acme',
  });
  assert.deepEqual(JSON.parse(line), {
    ts: '2026-12-01T04:00:00.000Z',
    level: 'error',
    msg: 'reconcile failed',
    controller: 'tenantcontrolplane',
    namespace: 'tenants',
    name: 'acme',
  });
  assert.equal(JSON.parse(jsonLine(AT, 'became leader')).level, 'info');
});

test('text lines keep the time-then-message form and append fields, quoting values with spaces', () => {
  assert.equal(textLine(AT, 'became leader'), '2026-12-01T04:00:00.000Z became leader');
  assert.equal(
    textLine(AT, 'event', { level: 'error', namespace: 'tenants', reason: 'a b', skipped: undefined }),
    '2026-12-01T04:00:00.000Z ERROR event namespace=tenants reason="a b"',
  );
});
