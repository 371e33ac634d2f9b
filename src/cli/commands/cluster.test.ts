import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const BIN = join(import.meta.dirname, '..', '..', '..', 'bin', 'kamaji.js');

async function kamaji(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [BIN, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

test('without a cluster, status and kubeconfig fail saying what to run, not with a raw ENOENT', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-cli-'));
  const stateDir = join(work, 'nothing-here');
  try {
    const status = await kamaji('status', `--state-dir=${stateDir}`);
    assert.equal(status.code, 1, 'status exits 1 when there is no cluster');
    assert.match(
      status.stdout,
      new RegExp(`no local admin cluster in ${stateDir}: run "kamaji up --state-dir ${stateDir}"`),
    );

    const kubeconfig = await kamaji('kubeconfig', 'demo', `--state-dir=${stateDir}`);
    assert.equal(kubeconfig.code, 1);
    assert.doesNotMatch(kubeconfig.stderr, /ENOENT/);
    assert.match(kubeconfig.stderr, /no local admin cluster in .*: run "kamaji up --state-dir/);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
