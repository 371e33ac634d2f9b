import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { tarArchive, ustarName } from './tar.ts';

const run = promisify(execFile);

test('GNU tar lists and extracts the archive: modes, sizes, contents', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-tar-'));
  try {
    const odd = Buffer.alloc(1_000, 7);
    const archive = tarArchive([
      { type: 'directory', path: 'usr', mode: 0o755 },
      { type: 'directory', path: 'tmp', mode: 0o1777 },
      { type: 'file', path: 'usr/tool', mode: 0o755, content: odd },
      { type: 'file', path: 'empty', mode: 0o644, content: Buffer.alloc(0) },
      { type: 'symlink', path: 'usr/alias', target: 'tool' },
    ]);
    assert.equal(archive.length % 512, 0);
    await writeFile(join(dir, 'a.tar'), archive);
    const { stdout } = await run('tar', ['-tvf', join(dir, 'a.tar')]);
    const listing = stdout.trim().split('\n');
    assert.match(listing[0] ?? '', /^drwxr-xr-x root\/root\s+0 .* usr\/$/);
    assert.match(listing[1] ?? '', /^drwxrwxrwt root\/root\s+0 .* tmp\/$/);
    assert.match(listing[2] ?? '', /^-rwxr-xr-x root\/root\s+1000 .* usr\/tool$/);
    await run('tar', ['-xf', join(dir, 'a.tar'), '-C', dir]);
    assert.deepEqual(await readFile(join(dir, 'usr', 'tool')), odd);
    assert.equal((await stat(join(dir, 'empty'))).size, 0);
    assert.match(listing[4] ?? '', /^lrwxrwxrwx root\/root\s+0 .* usr\/alias -> tool$/);
    assert.equal(await readlink(join(dir, 'usr', 'alias')), 'tool');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the same entries always give the same bytes', () => {
  const entries = [{ type: 'file' as const, path: 'a', mode: 0o644, content: Buffer.from('x') }];
  assert.deepEqual(tarArchive(entries), tarArchive(entries));
});

test('a path too long for a ustar name and prefix is refused', () => {
  assert.throws(() => tarArchive([{ type: 'directory', path: 'x'.repeat(100), mode: 0o755 }]), /longer than 100/);
  assert.throws(() => tarArchive([{ type: 'directory', path: `${'x'.repeat(156)}/y`, mode: 0o755 }]), /no slash/);
});

test('a path over 100 bytes goes into the prefix and name fields, and GNU tar reads it whole', async () => {
  const long = `app/node_modules/@scope/package/dist/gen/models/${'Deep'.repeat(12)}/V1StatefulSetRetentionPolicy.js`;
  assert.ok(long.length > 100);
  const { name, prefix } = ustarName(long);
  assert.equal(`${prefix}/${name}`, long);
  assert.equal(ustarName('short/path').prefix, '');
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-tar-'));
  try {
    await writeFile(
      join(dir, 'long.tar'),
      tarArchive([{ type: 'file', path: long, mode: 0o644, content: Buffer.from('model') }]),
    );
    const { stdout } = await run('tar', ['-tf', join(dir, 'long.tar')]);
    assert.equal(stdout.trim(), long);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
