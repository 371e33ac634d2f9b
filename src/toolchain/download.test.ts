import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mirroredUrl, parseChecksumFile } from './download.ts';

const digest = 'a'.repeat(64);

test('a sidecar checksum may be the bare digest or digest and file name', () => {
  const source = { kind: 'sidecar', url: 'https://x/kubelet.sha256' } as const;
  assert.equal(parseChecksumFile(`${digest}\n`, source, 'kubelet'), digest);
  assert.equal(parseChecksumFile(`${digest.toUpperCase()}  kubelet\n`, source, 'kubelet'), digest);
});

test('a checksum list is searched for the exact file name', () => {
  const source = { kind: 'list', url: 'https://x/SHA256SUMS', fileName: 'etcd-v3.6.6-linux-amd64.tar.gz' } as const;
  const list = `${'b'.repeat(64)}  etcd-v3.6.6-linux-arm64.tar.gz\n${digest}  etcd-v3.6.6-linux-amd64.tar.gz\n`;
  assert.equal(parseChecksumFile(list, source, 'ignored'), digest);
  assert.throws(() => parseChecksumFile(`${digest}  other.tar.gz\n`, source, 'x'), /has no SHA-256 for etcd-v3\.6\.6/);
});

test('a checksum file without a valid digest is an error, never a pass', () => {
  const source = { kind: 'sidecar', url: 'https://x/a.sha256' } as const;
  assert.throws(() => parseChecksumFile('<html>not found</html>', source, 'a'), /no SHA-256/);
  assert.throws(() => parseChecksumFile('', source, 'a'), /no SHA-256/);
});

test('a mirror keeps the host and path of the official URL', () => {
  assert.equal(
    mirroredUrl('https://dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubectl', 'http://127.0.0.1:8080/'),
    'http://127.0.0.1:8080/dl.k8s.io/release/v1.35.4/bin/linux/amd64/kubectl',
  );
  assert.equal(mirroredUrl('https://dl.k8s.io/a', undefined), 'https://dl.k8s.io/a');
});
