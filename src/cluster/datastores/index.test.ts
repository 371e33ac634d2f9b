import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { allocateDatastore, defaultDatastoreName, referencedSecrets, usesDataStore } from './index.ts';
import type { DatastoreRecord } from './local-datastore.ts';
import { basicAuthDataStoreObjects } from './sql.ts';

const record = (name: string, driver: DatastoreRecord['driver'], port: number, index: number): DatastoreRecord => ({
  name,
  driver,
  port,
  index,
});

test('several datastores of one driver take the following free ports; an etcd also keeps its peer port', () => {
  const existing = [record('default', 'etcd', 23790, 0), record('pg', 'postgresql', 5432, 1)];
  assert.deepEqual(allocateDatastore(existing, { name: 'pg2', driver: 'postgresql' }), {
    name: 'pg2',
    driver: 'postgresql',
    index: 2,
    port: 5433,
  });
  assert.equal(allocateDatastore(existing, { name: 'e2', driver: 'etcd' }).port, 23791);
  // A port freed by a removed datastore is taken again, and so is its index.
  const gap = [record('default', 'etcd', 23790, 0), record('pg3', 'postgresql', 5434, 2)];
  assert.deepEqual(allocateDatastore(gap, { name: 'pg', driver: 'postgresql' }), {
    name: 'pg',
    driver: 'postgresql',
    index: 1,
    port: 5432,
  });
  // No client port lands on an etcd's peer port (client + 1000), nor an etcd's peer port on a client port.
  const near = [record('x', 'mysql', 24790, 0)];
  assert.equal(allocateDatastore(near, { name: 'e', driver: 'etcd' }).port, 23791);
});

test('a datastore name is taken once', () => {
  assert.throws(
    () => allocateDatastore([record('pg', 'postgresql', 5432, 0)], { name: 'pg', driver: 'mysql' }),
    /a datastore named pg exists already/,
  );
});

test('default names are <driver>-<n>, the lowest n free from 1', () => {
  assert.equal(defaultDatastoreName([], 'mysql'), 'mysql-1');
  const existing = [record('mysql-1', 'mysql', 3306, 0), record('mysql-3', 'mysql', 3308, 1)];
  assert.equal(defaultDatastoreName(existing, 'mysql'), 'mysql-2');
});

test("a SQL DataStore references its Secret's keys for the CA and basicAuth, and removal finds that Secret", () => {
  const { secret, dataStore } = basicAuthDataStoreObjects('pg', 'PostgreSQL', '172.30.1.2:5432', 'CA', {
    username: 'kamaji_admin',
    password: 'secret',
  });
  assert.equal(secret.metadata?.name, 'pg-datastore-credentials');
  assert.equal(secret.metadata?.namespace, 'kamaji-system');
  assert.deepEqual(Object.keys(secret.data ?? {}).sort(), ['ca.crt', 'password', 'username']);
  assert.deepEqual(dataStore.spec.endpoints, ['172.30.1.2:5432']);
  assert.equal(dataStore.spec.basicAuth?.password?.secretReference?.keyPath, 'password');
  assert.equal(dataStore.spec.tlsConfig?.certificateAuthority.certificate.secretReference?.keyPath, 'ca.crt');
  assert.deepEqual(referencedSecrets(dataStore), [{ namespace: 'kamaji-system', name: 'pg-datastore-credentials' }]);
});

test('a TCP uses a DataStore it names in spec.dataStore, in an override, or that holds its data (status.storage)', () => {
  const tcp = (spec: Partial<TenantControlPlane['spec']>, dataStoreName?: string) =>
    ({
      metadata: { name: 't', namespace: 'n' },
      spec: { kubernetes: { version: 'v1.35.4' }, ...spec },
      ...(dataStoreName ? { status: { storage: { dataStoreName } } } : {}),
    }) as TenantControlPlane;
  assert.ok(usesDataStore(tcp({ dataStore: 'pg' }), 'pg'));
  // Moving away (spec changed, data not yet moved) still holds the old one.
  assert.ok(usesDataStore(tcp({ dataStore: 'other' }, 'pg'), 'pg'));
  assert.ok(usesDataStore(tcp({ dataStoreOverrides: [{ resource: '/events', dataStore: 'pg' }] }), 'pg'));
  assert.ok(!usesDataStore(tcp({ dataStore: 'other' }, 'other'), 'pg'));
});
