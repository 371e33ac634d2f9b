import assert from 'node:assert/strict';
import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { followLog } from './detached.ts';

test('followLog prints what was written just before the process finished', async () => {
  const work = await mkdtemp(join(tmpdir(), 'follow-log-'));
  const file = join(work, 'up.log');
  try {
    await writeFile(file, 'step 1\n');
    let calls = 0;
    let printed = '';
    await followLog(
      file,
      async () => {
        calls += 1;
        if (calls < 2) return false;
        // The process writes its error and exits between two reads of the log.
        await appendFile(file, 'failed: the reason\n');
        return true;
      },
      (text) => {
        printed += text;
      },
    );
    assert.equal(printed, 'step 1\nfailed: the reason\n');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
