import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleContext } from '../../../test/support/tenant-context.ts';
import { createCertificateAuthority } from '../../pki/certificates.ts';
import { desiredDatastoreSecrets } from './datastore.ts';

test('the datastore config Secret lists each endpoint with one https scheme, also one written with a scheme', async () => {
  const context = sampleContext({
    datastore: { endpoints: ['etcd-0:2379', 'https://etcd-1:2379'], schema: 'tenants_acme' },
  });
  const secrets = await desiredDatastoreSecrets({
    context,
    credentials: { kind: 'etcd', datastoreCa: await createCertificateAuthority('etcd-ca', { validityDays: 10 }) },
    username: 'tenants_acme',
    existing: new Map(),
    options: { rotate: false },
  });
  const config = secrets.find((secret) => secret.name === 'acme-datastore-config')?.data;
  assert.equal(config?.DB_CONNECTION_STRING, 'https://etcd-0:2379,https://etcd-1:2379');
  assert.equal(config?.DB_SCHEMA, 'tenants_acme');
});

test('a SQL tenant gets the server CA and its password with upstream DB_* keys, and no client certificate', async () => {
  const context = sampleContext({ datastore: { endpoints: ['pg-0:5432', 'pg-1:5432'], schema: 'acme_db' } });
  const secrets = await desiredDatastoreSecrets({
    context,
    credentials: { kind: 'PostgreSQL', caCertificatePem: 'SERVER CA', password: 'p'.repeat(32) },
    username: 'acme_user',
    existing: new Map(),
    options: { rotate: false },
  });
  assert.deepEqual(
    secrets.map(({ name, data }) => ({ name, data })),
    [
      { name: 'acme-datastore-certificate', data: { 'ca.crt': 'SERVER CA' } },
      {
        name: 'acme-datastore-config',
        data: {
          DB_CONNECTION_STRING: 'pg-0:5432',
          DB_SCHEMA: 'acme_db',
          DB_USER: 'acme_user',
          DB_PASSWORD: 'p'.repeat(32),
        },
      },
    ],
  );
});
