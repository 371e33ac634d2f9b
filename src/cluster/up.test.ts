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
import {
  MANAGER_PROCESS,
  managerArguments,
  OWNER_PROCESS,
  ownerArguments,
  stopUpProcesses,
  upProcesses,
} from './up.ts';

/** A stand-in for `node bin/kamaji.js <args>`: a Node process that only waits, started with exactly those args. */
function fakeKamaji(args: readonly string[]): ChildProcess {
  return spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', ...args], { stdio: 'ignore' });
}

test('down finds and stops the owner and the manager of a state dir deleted under them, and nothing else', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-up-'));
  // The state dir does not exist: deleted, with every pid file in it, while its processes run on.
  const layout = stateLayout(join(work, 'state'));
  const neighbour = stateLayout(join(work, 'state-2'));
  const owner = fakeKamaji(ownerArguments(layout));
  const manager = fakeKamaji(managerArguments(layout));
  const others = [
    fakeKamaji(ownerArguments(neighbour)),
    fakeKamaji(managerArguments(neighbour)),
    // The user's own command naming the state dir is no process of the instance.
    fakeKamaji(['down', `--state-dir=${layout.root}`]),
  ];
  const all = [owner, manager, ...others];
  try {
    // Each has exec'd once its own arguments show.
    await waitFor(async () => all.every((child) => processArguments(child.pid!)?.includes('-e')) || undefined, {
      timeoutMs: 5_000,
      intervalMs: 20,
      description: 'the stand-ins to start',
    });
    assert.deepEqual(await upProcesses(layout, OWNER_PROCESS), [owner.pid]);
    assert.deepEqual(await upProcesses(layout, MANAGER_PROCESS), [manager.pid]);

    await stopUpProcesses(layout, MANAGER_PROCESS);
    await stopUpProcesses(layout, OWNER_PROCESS);
    assert.ok(!isAlive(owner.pid!), 'the owner is stopped');
    assert.ok(!isAlive(manager.pid!), 'the manager is stopped');
    assert.deepEqual(
      others.filter((child) => !isAlive(child.pid!)).map((child) => processArguments(child.pid!)),
      [],
      'the neighbour instance and the user command run on',
    );
    assert.deepEqual(await upProcesses(layout, OWNER_PROCESS), []);
  } finally {
    for (const child of all) child.kill('SIGKILL');
    await rm(work, { recursive: true, force: true });
  }
});
