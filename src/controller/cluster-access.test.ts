import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { accessFromKubeconfig, loadClusterAccess } from './cluster-access.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

const kubeconfig = (user: Record<string, unknown>, cluster: Record<string, unknown> = {}) =>
  JSON.stringify({
    'current-context': 'b',
    contexts: [
      { name: 'a', context: { cluster: 'one', user: 'u' } },
      { name: 'b', context: { cluster: 'two', user: 'v' } },
    ],
    clusters: [
      { name: 'one', cluster: { server: 'https://one:6443' } },
      { name: 'two', cluster: { server: 'https://two:6443/', ...cluster } },
    ],
    users: [
      { name: 'u', user: {} },
      { name: 'v', user },
    ],
  });

test('the current context picks the cluster and the user; inline data is decoded', () => {
  const access = accessFromKubeconfig(
    kubeconfig(
      { 'client-certificate-data': b64('CERT'), 'client-key-data': b64('KEY') },
      { 'certificate-authority-data': b64('CA') },
    ),
    '/nowhere',
  );
  assert.deepEqual(access, {
    server: 'https://two:6443',
    caPem: 'CA',
    certificatePem: 'CERT',
    keyPem: 'KEY',
    token: undefined,
    tokenFile: undefined,
    insecureSkipTlsVerify: undefined,
  });
});

test('file references resolve against the kubeconfig directory', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-access-'));
  try {
    await writeFile(join(dir, 'ca.crt'), 'CA FROM FILE');
    await writeFile(join(dir, 'config'), kubeconfig({ token: 't0k' }, { 'certificate-authority': 'ca.crt' }));
    const access = loadClusterAccess(join(dir, 'config'));
    assert.equal(access.caPem, 'CA FROM FILE');
    assert.equal(access.token, 't0k');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('plugins and missing contexts are refused with a message naming them', () => {
  assert.throws(
    () => accessFromKubeconfig(kubeconfig({ exec: { command: 'aws' } }), '/', 'my.conf'),
    /my\.conf: user "v" uses an exec/,
  );
  assert.throws(
    () => accessFromKubeconfig('{"current-context":"x"}', '/', 'my.conf'),
    /current-context "x" is not among/,
  );
});
