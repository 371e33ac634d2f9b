import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { allowTraversal } from './server-user.ts';

const othersMaySearch = async (path: string) => ((await stat(path)).mode & 0o001) !== 0;

test('the state dir and the directories down to the server directory become searchable by others, not readable', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-traversal-'));
  try {
    await chmod(work, 0o755);
    const root = join(work, 'state');
    const server = join(root, 'datastores', 'pg', 'server');
    await mkdir(server, { recursive: true, mode: 0o700 });
    for (const dir of [root, join(root, 'datastores'), join(root, 'datastores', 'pg')]) await chmod(dir, 0o700);
    await allowTraversal(root, server, 'postgres');
    for (const dir of [root, join(root, 'datastores'), join(root, 'datastores', 'pg')]) {
      assert.equal((await stat(dir)).mode & 0o777, 0o701, dir);
    }
    assert.equal((await stat(server)).mode & 0o777, 0o700, 'the server directory itself is left to its owner');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});

test('a parent of the state dir others may not search is refused, named with the fix, and left alone', async () => {
  const work = await mkdtemp(join(tmpdir(), 'kamaji-traversal-'));
  try {
    const root = join(work, 'state');
    await mkdir(join(root, 'server'), { recursive: true });
    await assert.rejects(
      allowTraversal(root, join(root, 'server'), 'postgres'),
      new RegExp(`the postgres OS user .* cannot reach .*: others may not search ${work}; run "chmod o\\+x ${work}"`),
    );
    assert.ok(!(await othersMaySearch(work)), 'nothing above the state dir is changed');
  } finally {
    await rm(work, { recursive: true, force: true });
  }
});
