import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SecretReader } from '../resolve.ts';
import { resolveSqlDataStore } from './resolve.ts';

const secrets: SecretReader = async (namespace, name) =>
  namespace === 'kamaji-system' && name === 'pg'
    ? { 'ca.crt': 'CA', 'tls.crt': 'CRT', 'tls.key': 'KEY', user: 'kamaji', password: 'secret' }
    : undefined;
const ref = (keyPath: string) => ({ secretReference: { name: 'pg', namespace: 'kamaji-system', keyPath } });
const ca = { certificate: ref('ca.crt') };

test('basicAuth over TLS: the CA, the user and the password', async () => {
  const resolved = await resolveSqlDataStore(
    'pg',
    {
      driver: 'PostgreSQL',
      endpoints: ['db:5432'],
      tlsConfig: { certificateAuthority: ca },
      basicAuth: { username: { content: Buffer.from('admin').toString('base64') }, password: ref('password') },
    },
    secrets,
  );
  assert.deepEqual(resolved, {
    driver: 'PostgreSQL',
    connection: { endpoints: ['db:5432'], caCertificatePem: 'CA', username: 'admin', password: 'secret' },
  });
});

test('a client certificate when there is no basicAuth', async () => {
  const resolved = await resolveSqlDataStore(
    'my',
    {
      driver: 'MySQL',
      endpoints: ['db:3306'],
      tlsConfig: {
        certificateAuthority: ca,
        clientCertificate: { certificate: ref('tls.crt'), privateKey: ref('tls.key') },
      },
    },
    secrets,
  );
  assert.deepEqual(resolved.connection, {
    endpoints: ['db:3306'],
    caCertificatePem: 'CA',
    clientCertificatePem: 'CRT',
    clientKeyPem: 'KEY',
  });
});

test('errors name the field and the fix', async () => {
  const spec = { driver: 'PostgreSQL', endpoints: ['db:5432'] };
  await assert.rejects(
    resolveSqlDataStore('pg', { ...spec, driver: 'etcd' }, secrets),
    /DataStore pg: spec\.driver: etcd is not a SQL driver \(PostgreSQL, MySQL\)/,
  );
  await assert.rejects(
    resolveSqlDataStore('pg', { ...spec, basicAuth: { username: ref('user'), password: ref('password') } }, secrets),
    /spec\.tlsConfig\.certificateAuthority\.certificate: Kamaji reaches PostgreSQL over TLS only/,
  );
  await assert.rejects(
    resolveSqlDataStore('pg', { ...spec, tlsConfig: { certificateAuthority: ca } }, secrets),
    /spec\.basicAuth: set basicAuth \(username and password\) or spec\.tlsConfig\.clientCertificate/,
  );
  await assert.rejects(
    resolveSqlDataStore(
      'pg',
      { ...spec, tlsConfig: { certificateAuthority: ca }, basicAuth: { username: ref('user') } },
      secrets,
    ),
    /spec\.basicAuth\.password: set either content/,
  );
});
