import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decideClaim, identitiesFrom, notOwnedFields, type OwnerRow, reservedName } from './identity.ts';

const ALICE = { uid: 'uid-a', namespace: 'ns', name: 'alice' };
const BOB = { uid: 'uid-b', namespace: 'ns', name: 'bob' };
const NAMES = { database: 'a_db', user: 'a' };
const row = (kind: OwnerRow['kind'], name: string, owner = ALICE): OwnerRow => ({
  kind,
  name,
  uid: owner.uid,
  namespace: owner.namespace,
  tenant: owner.name,
});
const NOTHING = { databaseExists: false, userExists: false };

test('a free tenant claims both records; its own tenant claims none', () => {
  const free = identitiesFrom([], NAMES);
  assert.deepEqual(
    (decideClaim(free, ALICE, NOTHING) as { kind: string }[]).map((record) => record.kind),
    ['database', 'user'],
  );
  const mine = identitiesFrom([row('database', 'a_db'), row('user', 'a')], NAMES);
  assert.deepEqual(decideClaim(mine, ALICE, { databaseExists: true, userExists: true }), []);
});

test('records of the same name but another kind do not count', () => {
  const identities = identitiesFrom([row('user', 'a_db', BOB), row('database', 'a', BOB)], NAMES);
  assert.equal(identities.database.owner, undefined);
  assert.equal(identities.user.owner, undefined);
});

test('refusals: another owner first, then what exists outside Kamaji, then an extended user', () => {
  const bobs = identitiesFrom([row('database', 'a_db', BOB)], NAMES);
  assert.deepEqual(decideClaim(bobs, ALICE, { databaseExists: true, userExists: true }), {
    reason: 'OwnedByAnotherTenant',
    field: 'spec.dataStoreSchema',
    owner: BOB,
  });
  assert.deepEqual(notOwnedFields(bobs, ALICE), ['spec.dataStoreSchema']);
  const free = identitiesFrom([], NAMES);
  assert.equal(
    (decideClaim(free, ALICE, { ...NOTHING, databaseExists: true }) as { field: string }).field,
    'spec.dataStoreSchema',
  );
  assert.equal(
    (decideClaim(free, ALICE, { ...NOTHING, userExists: true }) as { field: string }).field,
    'spec.dataStoreUsername',
  );
  const mine = identitiesFrom([row('database', 'a_db'), row('user', 'a')], NAMES);
  assert.deepEqual(decideClaim(mine, ALICE, { databaseExists: true, userExists: true, userExtended: 'holds root' }), {
    reason: 'ExistsOutsideKamaji',
    field: 'spec.dataStoreUsername',
    detail: 'holds root',
  });
});

test('reserved names refuse the right field', () => {
  const reserved = { databases: new Set(['mysql']), users: new Set(['root']), userPrefixes: ['pg_'] };
  assert.equal(reservedName({ database: 'mysql', user: 'x' }, reserved, 'MySQL')?.field, 'spec.dataStoreSchema');
  assert.equal(reservedName({ database: 'x', user: 'root' }, reserved, 'MySQL')?.field, 'spec.dataStoreUsername');
  assert.equal(reservedName({ database: 'x', user: 'pg_monitor' }, reserved, 'MySQL')?.field, 'spec.dataStoreUsername');
  assert.equal(reservedName({ database: 'x', user: 'y' }, reserved, 'MySQL'), undefined);
});
