import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DatastoreDriver } from './driver.ts';
import { type DatastoreObserver, instrumentDriver } from './instrumented.ts';

test('an instrumented driver reports each operation, failures included, and passes results and errors through', async () => {
  const seen: Parameters<DatastoreObserver>[0][] = [];
  const driver: DatastoreDriver = {
    check: async () => {
      throw new Error('unreachable');
    },
    ensureTenant: async () => undefined,
    deleteTenant: async () => ({ deletedKeys: 3, notOwned: [] }),
    close: () => undefined,
  };
  const wrapped = instrumentDriver(driver, 'etcd', (outcome) => seen.push(outcome));
  await assert.rejects(wrapped.check(), /unreachable/);
  const owner = { uid: 'u', namespace: 'n', name: 'a' };
  assert.equal(await wrapped.ensureTenant({ schema: 's', username: 'u' }, owner), undefined);
  assert.deepEqual(await wrapped.deleteTenant({ schema: 's', username: 'u' }, owner), { deletedKeys: 3, notOwned: [] });
  assert.deepEqual(
    seen.map(({ driver: name, operation, failed }) => [name, operation, failed]),
    [
      ['etcd', 'check', true],
      ['etcd', 'ensure_tenant', false],
      ['etcd', 'delete_tenant', false],
    ],
  );
  assert.ok(seen.every(({ seconds }) => seconds >= 0));
});
