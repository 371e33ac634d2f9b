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
    datastoreCa: await createCertificateAuthority('etcd-ca', { validityDays: 10 }),
    username: 'tenants_acme',
    existing: new Map(),
    options: { rotate: false },
  });
  const config = secrets.find((secret) => secret.name === 'acme-datastore-config')?.data;
  assert.equal(config?.DB_CONNECTION_STRING, 'https://etcd-0:2379,https://etcd-1:2379');
  assert.equal(config?.DB_SCHEMA, 'tenants_acme');
});
