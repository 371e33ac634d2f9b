import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';
import {
  processArguments,
  processesStartedWith,
  recordedPid,
  recordProcess,
  stopRecordedProcess,
} from './pid-files.ts';
import { pidFile, stateLayout } from './state.ts';

test('a recorded process is found again, stopped, and forgotten; a reused pid is not taken for it', async () => {
  const layout = stateLayout(await mkdtemp(join(tmpdir(), 'kamaji-pids-')));
  const child = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    await recordProcess(layout, 'sleeper', child.pid!);
    assert.equal(await recordedPid(layout, 'sleeper'), child.pid);

    // The same pid with another start time is some other process.
    await writeFile(pidFile(layout, 'impostor'), `${child.pid} 1\n`);
    assert.equal(await recordedPid(layout, 'impostor'), undefined);

    await stopRecordedProcess(layout, 'sleeper');
    assert.ok(!isAlive(child.pid!));
    assert.equal(await recordedPid(layout, 'sleeper'), undefined);
  } finally {
    child.kill('SIGKILL');
    await rm(layout.root, { recursive: true, force: true });
  }
});

test('processes are found by the arguments they were started with: whole arguments, in sequence', async () => {
  const marker = `--marker=${process.pid}-${Date.now()}`;
  const keepAlive = 'setInterval(() => {}, 1000)';
  const started = (args: string[]) => spawn(process.execPath, ['-e', keepAlive, ...args], { stdio: 'ignore' });
  const children = [
    started(['up', '--foreground', marker]),
    started(['up', marker, '--foreground']),
    started(['up', '--foreground', `${marker}-other`]),
  ];
  try {
    const [match] = children;
    await waitFor(async () => processesStartedWith(['up', '--foreground', marker]).length > 0 || undefined, {
      timeoutMs: 5_000,
      intervalMs: 20,
      description: 'the children to start',
    });
    assert.deepEqual(processesStartedWith(['up', '--foreground', marker]), [match!.pid]);
    assert.deepEqual(processArguments(match!.pid!)?.slice(1), ['-e', keepAlive, 'up', '--foreground', marker]);
    assert.deepEqual(processesStartedWith([]), [], 'an empty sequence names no process');
  } finally {
    for (const child of children) child.kill('SIGKILL');
  }
});

test('a pid file rewritten while another process polls it never reads as "no process"', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-pid-race-'));
  const layout = stateLayout(dir);
  try {
    await recordProcess(layout, 'owner', process.pid);
    let writing = true;
    const writer = (async () => {
      for (let round = 0; round < 400; round += 1) await recordProcess(layout, 'owner', process.pid);
      writing = false;
    })();
    let reads = 0;
    let missed = 0;
    while (writing) {
      reads += 1;
      if ((await recordedPid(layout, 'owner')) === undefined) missed += 1;
    }
    await writer;
    assert.ok(reads > 50, `${reads} reads`);
    assert.equal(missed, 0, `${missed} of ${reads} reads found no owner`);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
