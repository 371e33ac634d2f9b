import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveContent, resolveEtcdDataStore, type SecretReader } from './resolve.ts';

const secrets: SecretReader = async (namespace, name) =>
  namespace === 'kamaji-system' && name === 'etcd-certs'
    ? { 'ca.crt': 'CA', 'ca.key': 'CAKEY', 'tls.crt': 'CRT', 'tls.key': 'KEY' }
    : undefined;
const ref = (keyPath: string, name = 'etcd-certs') => ({
  secretReference: { name, namespace: 'kamaji-system', keyPath },
});

test('content is base64, references read the Secret key', async () => {
  assert.equal(
    await resolveContent('ds', 'f', { content: Buffer.from('inline').toString('base64') }, secrets),
    'inline',
  );
  assert.equal(await resolveContent('ds', 'f', ref('ca.crt'), secrets), 'CA');
});

test('errors name the DataStore, the field and what is wrong', async () => {
  await assert.rejects(
    resolveContent('ds', 'spec.x', ref('nope'), secrets),
    /DataStore ds: spec\.x: Secret kamaji-system\/etcd-certs has no key "nope" \(it has: ca\.crt, ca\.key, tls\.crt, tls\.key\)/,
  );
  await assert.rejects(
    resolveContent('ds', 'spec.x', ref('ca.crt', 'missing'), secrets),
    /Secret kamaji-system\/missing does not exist/,
  );
  await assert.rejects(resolveContent('ds', 'spec.x', {}, secrets), /set either content \(base64\) or secretReference/);
});

test('an etcd DataStore resolves to a root connection and the CA that signs tenant certificates', async () => {
  const resolved = await resolveEtcdDataStore(
    'default',
    {
      driver: 'etcd',
      endpoints: ['127.0.0.1:2379'],
      tlsConfig: {
        certificateAuthority: { certificate: ref('ca.crt'), privateKey: ref('ca.key') },
        clientCertificate: { certificate: ref('tls.crt'), privateKey: ref('tls.key') },
      },
    },
    secrets,
  );
  assert.deepEqual(resolved.ca, { certificatePem: 'CA', privateKeyPem: 'CAKEY' });
  assert.equal(resolved.root.clientKeyPem, 'KEY');
  await assert.rejects(
    resolveEtcdDataStore('pg', { driver: 'PostgreSQL', endpoints: ['x:5432'] }, secrets),
    /DataStore pg: spec\.driver: driver PostgreSQL is not supported yet/,
  );
  await assert.rejects(
    resolveEtcdDataStore('bad', { driver: 'etcd', endpoints: ['x:1'], tlsConfig: {} }, secrets),
    /spec\.tlsConfig\.certificateAuthority\.certificate/,
  );
});
