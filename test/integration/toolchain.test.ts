import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { ETCD_VERSION, HELM_VERSION, KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';

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

test('the cached helm prints the pinned version and assumes the Kubernetes minor of its release build', async () => {
  const helm = await ensureComponent('helm');
  const { stdout } = await run(helm.path, ['version', '--template', '{{.Version}} {{.GitTreeState}}']);
  assert.equal(stdout.trim(), `${HELM_VERSION} clean`);
  // Without a cluster, `helm template` reports the Kubernetes version stamped at build time (v1.20 when unset).
  const chart = await mkdtemp(join(tmpdir(), 'helm-probe-'));
  try {
    await mkdir(join(chart, 'templates'));
    await writeFile(join(chart, 'Chart.yaml'), 'apiVersion: v2\nname: probe\nversion: 0.0.1\n');
    await writeFile(join(chart, 'templates', 'version.yaml'), '# {{ .Capabilities.KubeVersion.Version }}\n');
    const { stdout: rendered } = await run(helm.path, ['template', chart]);
    assert.match(rendered, /^# v1\.37\.0$/m);
  } finally {
    await rm(chart, { recursive: true, force: true });
  }
});
