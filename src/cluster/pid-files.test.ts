import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { isAlive } from '../process/supervisor.ts';
import { recordedPid, recordProcess, stopRecordedProcess } from './pid-files.ts';
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
