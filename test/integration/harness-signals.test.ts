import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { access, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { test } from 'node:test';
import { processesMentioning } from '../../src/cluster/pid-files.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';

const harnessModule = new URL('../support/harness/control-plane.ts', import.meta.url).href;

for (const signal of ['SIGTERM', 'SIGINT', 'SIGKILL'] as const) {
  test(`${signal} to the owning process stops etcd and kube-apiserver${signal === 'SIGKILL' ? '' : ' and removes the work directory'}`, async () => {
    const script = `
      const { startControlPlane } = await import(${JSON.stringify(harnessModule)});
      const harness = await startControlPlane();
      console.log(JSON.stringify({ dir: harness.dir, pids: harness.pids() }));
      setInterval(() => {}, 1000);
    `;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise<number | null>((resolve) => owner.on('exit', (code) => resolve(code)));
    const firstLine = await new Promise<string>((resolve, reject) => {
      createInterface({ input: owner.stdout }).once('line', resolve);
      owner.once('exit', () => reject(new Error('the harness owner exited before reporting')));
    });
    const started = JSON.parse(firstLine) as { dir: string; pids: number[] };
    assert.equal(started.pids.length, 2);
    assert.ok(started.pids.every(isAlive));

    owner.kill(signal);
    assert.notEqual(await exited, 0);
    await waitFor(async () => (started.pids.some(isAlive) ? undefined : true), {
      timeoutMs: 10_000,
      description: 'etcd and kube-apiserver to exit',
    });
    assert.deepEqual(processesMentioning(started.dir), []);
    if (signal === 'SIGKILL') {
      // No code of the owner runs after SIGKILL: the kernel stopped its children; its directory is ours to remove.
      await rm(started.dir, { recursive: true, force: true });
    } else {
      await assert.rejects(access(started.dir), { code: 'ENOENT' });
    }
  });
}
