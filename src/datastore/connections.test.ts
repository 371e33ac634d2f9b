import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { DataStoreConnections } from './connections.ts';
import { DataStoreConfigError } from './resolve.ts';

const base64 = (text: string) => Buffer.from(text).toString('base64');

function dataStore(name: string, driver: string): DataStore {
  return {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'DataStore',
    metadata: { name, generation: 1 },
    spec: {
      driver,
      endpoints: ['db.example:5432'],
      tlsConfig: { certificateAuthority: { certificate: { content: base64('SERVER CA') } } },
      basicAuth: { username: { content: base64('admin') }, password: { content: base64('secret') } },
    },
  } as DataStore;
}

test('PostgreSQL and MySQL DataStores get their SQL driver, with the server CA and no CA key', async () => {
  const connections = new DataStoreConnections(async () => undefined);
  try {
    for (const driver of ['PostgreSQL', 'MySQL'] as const) {
      const connection = await connections.connectionFor(dataStore(driver.toLowerCase(), driver));
      assert.equal(connection.kind, driver);
      assert.equal(connection.caCertificatePem, 'SERVER CA');
      assert.deepEqual(connection.endpoints, ['db.example:5432']);
      assert.equal('ca' in connection, false);
    }
  } finally {
    connections.closeAll();
  }
});

test('a SQL DataStore without its CA is refused naming the field; an unsupported driver names spec.driver', async () => {
  const connections = new DataStoreConnections(async () => undefined);
  const withoutCa = dataStore('no-ca', 'PostgreSQL');
  delete withoutCa.spec.tlsConfig;
  await assert.rejects(
    connections.connectionFor(withoutCa),
    (error) =>
      error instanceof DataStoreConfigError && error.field === 'spec.tlsConfig.certificateAuthority.certificate',
  );
  await assert.rejects(
    connections.connectionFor(dataStore('nats', 'NATS')),
    (error) => error instanceof DataStoreConfigError && error.field === 'spec.driver' && /NATS/.test(error.message),
  );
});

test('refresh drops the connection when the Secrets a DataStore names resolve to new credentials, not otherwise', async () => {
  const secret: Record<string, string> = { password: 'first' };
  const connections = new DataStoreConnections(async () => ({ ...secret }));
  const rotating = dataStore('rotating', 'PostgreSQL');
  rotating.spec.basicAuth = {
    username: { content: base64('admin') },
    password: { secretReference: { name: 'db', namespace: 'kamaji-system', keyPath: 'password' } },
  };
  try {
    assert.equal(await connections.refresh(rotating), false, 'nothing open yet: nothing to refresh');
    const first = await connections.connectionFor(rotating);
    assert.equal(await connections.refresh(rotating), false, 'the same Secret: the connection is kept');
    assert.equal(await connections.connectionFor(rotating), first);
    secret.password = 'second';
    assert.equal(await connections.refresh(rotating), true, 'a rotated password is noticed');
    const second = await connections.connectionFor(rotating);
    assert.notEqual(second, first, 'and the next use opens a new connection');
    assert.equal(second.resolved.kind === 'PostgreSQL' && second.resolved.connection.password, 'second');
  } finally {
    connections.closeAll();
  }
});
