import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupMetadata } from '../../test/support/backup.ts';
import {
  backupFileName,
  backupPath,
  backupsBeyond,
  pruneBackups,
  readBackupFile,
  readBackupFileHeader,
  writeBackupFile,
} from './file.ts';
import { BackupFileError, encodeBackup } from './format.ts';

const at = new Date('2026-12-01T06:07:08.123Z');

test('backup file names sort by time, per tenant; the oldest beyond keep are chosen', () => {
  assert.equal(backupFileName('team-a', 'demo', at), 'team-a_demo_20261201T060708Z.kamaji-backup');
  const files = [
    'team-a_demo_20261203T000000Z.kamaji-backup',
    'team-a_demo_20261201T000000Z.kamaji-backup',
    'team-a_demo-2_20261101T000000Z.kamaji-backup',
    'team-b_demo_20261101T000000Z.kamaji-backup',
    'team-a_demo_20261202T000000Z.kamaji-backup',
    'team-a_demo_20261130T000000Z.kamaji-backup.partial',
    'notes.txt',
  ];
  assert.deepEqual(backupsBeyond(files, 'team-a', 'demo', 2), ['team-a_demo_20261201T000000Z.kamaji-backup']);
  assert.deepEqual(backupsBeyond(files, 'team-a', 'demo', 5), []);
});

test('a file is written whole, readable by its owner only, read back; a missing one is named', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'bak-file-'));
  try {
    const { bytes } = encodeBackup(backupMetadata(), [{ key: 'namespaces/default', value: Buffer.from('x') }]);
    const path = await backupPath(`${directory}/`, 'default', 'demo', at);
    assert.equal(path, join(directory, 'default_demo_20261201T060708Z.kamaji-backup'));
    assert.equal(await backupPath(directory, 'default', 'demo', at), path);
    assert.equal(await backupPath(join(directory, 'given'), 'default', 'demo', at), join(directory, 'given'));
    await writeBackupFile(path, bytes);
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.deepEqual(await readdir(directory), ['default_demo_20261201T060708Z.kamaji-backup']);
    assert.equal((await readBackupFile(path)).entries[0]?.key, 'namespaces/default');
    assert.equal((await readBackupFileHeader(path)).objectCount, 1);
    await assert.rejects(readBackupFile(join(directory, 'nope')), (error: Error) => {
      return error instanceof BackupFileError && /nope: cannot be read .*check the path/.test(error.message);
    });
    await writeFile(join(directory, 'cut'), bytes.subarray(0, bytes.length - 4));
    await assert.rejects(readBackupFile(join(directory, 'cut')), /cut: the file is truncated/);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test('a write that fails leaves no partial file behind, and what was there unchanged', async () => {
  const directory = await mkdtemp(join(tmpdir(), 'bak-fail-'));
  try {
    // A directory where the file should go: the rename fails after the temporary file was written.
    await mkdir(join(directory, 'taken'));
    await writeFile(join(directory, 'taken', 'inside'), 'kept');
    await assert.rejects(writeBackupFile(join(directory, 'taken'), Buffer.from('backup')));
    assert.deepEqual((await readdir(directory)).sort(), ['taken']);
    assert.deepEqual(await readdir(join(directory, 'taken')), ['inside']);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});

test("pruning deletes only this tenant's oldest backups", async () => {
  const directory = await mkdtemp(join(tmpdir(), 'bak-prune-'));
  try {
    await mkdir(directory, { recursive: true });
    const names = [1, 2, 3].map((day) => backupFileName('default', 'demo', new Date(Date.UTC(2026, 11, day))));
    for (const name of [...names, backupFileName('default', 'other', at)]) await writeFile(join(directory, name), '');
    assert.deepEqual(await pruneBackups(directory, 'default', 'demo', 1), names.slice(0, 2));
    assert.deepEqual((await readdir(directory)).sort(), [names[2], backupFileName('default', 'other', at)].sort());
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
});
