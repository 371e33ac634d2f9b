import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';
import { processArguments } from './pid-files.ts';
import { stateLayout } from './state.ts';
import { ownerArguments, ownerProcesses, stopOwnerProcesses } from './up.ts';

/** A stand-in for `node bin/kamaji.js <args>`: a Node process that only waits, started with exactly those args. */
function fakeKamaji(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], { stdio: 'ignore' });
}

test('down finds and stops the owner of a state dir deleted under it, and nothing else', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-up-'));
  // The state dir does not exist: deleted, with every pid file in it, while its processes run on.
  const layout = stateLayout(join(work, 'state'));
  const neighbour = stateLayout(join(work, 'state-2'));
  const owner = fakeKamaji(ownerArguments(layout));
  const others = [
    fakeKamaji(ownerArguments(neighbour)),
    // The user's own command naming the state dir is no process of the instance.
    fakeKamaji(['down', `--state-dir=${layout.root}`]),
  ];
  const all = [owner, ...others];
  try {
    // Each has exec'd once its own arguments show.
    await waitFor(async () => all.every((child) => processArguments(child.pid!)?.includes('-e')) || undefined, {
      timeoutMs: 5_000,
      intervalMs: 20,
      description: 'the stand-ins to start',
    });
    assert.deepEqual(await ownerProcesses(layout), [owner.pid]);

    await stopOwnerProcesses(layout);
    assert.ok(!isAlive(owner.pid!), 'the owner is stopped');
    assert.deepEqual(
      others.filter((child) => !isAlive(child.pid!)).map((child) => processArguments(child.pid!)),
      [],
      'the neighbour instance and the user command run on',
    );
    assert.deepEqual(await ownerProcesses(layout), []);
  } finally {
    for (const child of all) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
});
