import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { test } from 'node:test';
import { sampleContext } from '../../../test/support/tenant-context.ts';
import { createCertificateAuthority } from '../../pki/certificates.ts';
import { desiredDatastoreSecrets, KINE_COMMON_NAME, NATS_CREDENTIALS_KEY } from './datastore.ts';
import { kinePodParts } from './kine.ts';

test('the datastore config Secret lists each endpoint with one https scheme, also one written with a scheme', async () => {
  const context = sampleContext({
    datastore: { driver: 'etcd', endpoints: ['etcd-0:2379', 'https://etcd-1:2379'], schema: 'tenants_acme' },
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

test("a SQL tenant gets the server CA, kine's certificate and its password with upstream DB_* keys", async () => {
  const context = sampleContext({
    datastore: { driver: 'PostgreSQL', endpoints: ['pg-0:5432', 'pg-1:5432'], schema: 'acme_db' },
  });
  const tenantCa = await createCertificateAuthority('acme-ca', { validityDays: 10 });
  const input = {
    context,
    credentials: { kind: 'PostgreSQL', caCertificatePem: 'SERVER CA', password: 'p'.repeat(32), tenantCa },
    username: 'acme_user',
    options: { rotate: false },
  } as const;
  const secrets = await desiredDatastoreSecrets({ ...input, existing: new Map() });
  const [certificate, config] = secrets;
  assert.deepEqual(
    secrets.map(({ name }) => name),
    ['acme-datastore-certificate', 'acme-datastore-config'],
  );
  assert.deepEqual(config?.data, {
    DB_CONNECTION_STRING: 'pg-0:5432',
    DB_SCHEMA: 'acme_db',
    DB_USER: 'acme_user',
    DB_PASSWORD: 'p'.repeat(32),
  });
  assert.equal(certificate?.data['ca.crt'], 'SERVER CA');
  // kine serves on loopback with it and the API server presents it: both verified against the tenant CA.
  const kine = new X509Certificate(certificate?.data['server.crt'] ?? '');
  assert.ok(kine.verify(new X509Certificate(tenantCa.certificatePem).publicKey));
  assert.equal(kine.subject, `CN=${KINE_COMMON_NAME}`);
  assert.ok(kine.checkIP('127.0.0.1'));
  assert.deepEqual(kine.keyUsage, ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
  // Kept on the next pass.
  const again = await desiredDatastoreSecrets({ ...input, existing: new Map(secrets.map((s) => [s.name, s.data])) });
  assert.equal(again[0]?.data['server.crt'], certificate?.data['server.crt']);
});

test("a NATS tenant's creds file goes to the datastore certificate Secret, mounted for kine alone", async () => {
  const context = sampleContext({ datastore: { driver: 'NATS', endpoints: ['nats-0:4222'], schema: 'acme_db' } });
  const tenantCa = await createCertificateAuthority('acme-ca', { validityDays: 10 });
  const secrets = await desiredDatastoreSecrets({
    context,
    credentials: {
      kind: 'NATS',
      caCertificatePem: 'SERVER CA',
      password: 'p'.repeat(32),
      tenantCa,
      natsCredentials: 'CREDS',
    },
    username: 'acme_user',
    existing: new Map(),
    options: { rotate: false },
  });
  assert.equal(secrets[0]?.data[NATS_CREDENTIALS_KEY], 'CREDS');
  assert.equal(secrets[1]?.data.DB_CONNECTION_STRING, 'nats-0:4222');
  const { containers, volumes } = kinePodParts(context);
  const endpoint = containers[0]?.env?.find((variable) => variable.name === 'KINE_ENDPOINT')?.value;
  assert.equal(endpoint, 'nats://$(DB_CONNECTION_STRING)?bucket=$(DB_SCHEMA)&noEmbed&credsFile=/etc/kine/nats.creds');
  const items = volumes[0]?.projected?.sources?.flatMap((source) => source.secret?.items ?? []) ?? [];
  assert.ok(items.some((item) => item.key === NATS_CREDENTIALS_KEY && item.path === 'nats.creds'));
  const sql = kinePodParts(sampleContext({ datastore: { driver: 'MySQL', endpoints: ['m:3306'], schema: 'a' } }));
  const sqlItems = sql.volumes[0]?.projected?.sources?.flatMap((source) => source.secret?.items ?? []) ?? [];
  assert.ok(!sqlItems.some((item) => item.key === NATS_CREDENTIALS_KEY));
});
