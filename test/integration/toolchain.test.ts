import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { ETCD_VERSION, KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';

const run = promisify(execFile);

test('the cached kube-apiserver prints the pinned version, and a second ensure is a cache hit', async () => {
  const first = await ensureComponent('kube-apiserver');
  const second = await ensureComponent('kube-apiserver');
  assert.equal(second.obtainedBy, 'cache');
  assert.equal(second.path, first.path);
  const { stdout } = await run(second.path, ['--version']);
  assert.equal(stdout.trim(), `Kubernetes ${KUBERNETES_VERSION}`);
});

test('the cached etcd prints the pinned version', async () => {
  const etcd = await ensureComponent('etcd');
  const { stdout } = await run(etcd.path, ['--version']);
  assert.match(stdout, new RegExp(`^etcd Version: ${ETCD_VERSION.slice(1).replaceAll('.', '\\.')}$`, 'm'));
});
