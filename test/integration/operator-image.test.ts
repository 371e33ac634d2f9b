import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { operatorImageBuild } from '../../src/cluster/operator-image.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const run = promisify(execFile);

interface ImageConfig {
  Entrypoint: string[];
  Cmd: string[];
  Env: string[];
  User: string;
  WorkingDir: string;
}

/** Unshares the mount namespace, binds the root read-only onto itself and runs the command chrooted as the user. */
const READ_ONLY_CHROOT = `root=$1; user=$2; shift 2
mount --bind "$root" "$root" && mount -o remount,bind,ro "$root" && exec chroot --userspec="$user" "$root" "$@"`;

/**
 * The image as a container runtime runs it, short of the runtime: its layer unpacked into a directory bound
 * read-only onto itself in a private mount namespace, the command run in a chroot of it as the image's user with
 * only the image's environment. Nothing of the host is visible (no /proc, no /dev): a file the image lacks fails it.
 */
describe('the operator image runs from its own files, as 65532, on a read-only root', { skip: NEEDS_ROOT }, () => {
  let dir = '';
  let root = '';
  let config: ImageConfig | undefined;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kamaji-operator-image-'));
    root = join(dir, 'root');
    const image = await (await operatorImageBuild()).load();
    config = JSON.parse(image.blobs[0]?.content.toString() ?? '{}').config as ImageConfig;
    await writeFile(join(dir, 'layer.tar.gz'), image.blobs[1]?.content ?? Buffer.alloc(0));
    await mkdir(root);
    await run('tar', ['-xzf', join(dir, 'layer.tar.gz'), '-C', root]);
  });

  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const imageConfig = (): ImageConfig => {
    if (!config) throw new Error('the image was not built (see the before hook)');
    return config;
  };

  /** Runs `command` in the image; by default the entrypoint with `args`, as a pod's `args` would. */
  const inImage = async (args: readonly string[], command = imageConfig().Entrypoint) => {
    const { Env, User } = imageConfig();
    const env = Object.fromEntries(
      Env.map((pair) => [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]),
    );
    const { stdout } = await run(
      'unshare',
      ['--mount', '--propagation', 'private', 'sh', '-c', READ_ONLY_CHROOT, 'sh', root, User, ...command, ...args],
      {
        env,
      },
    );
    return stdout;
  };
  const node = (script: string) => inImage(['-e', script], [imageConfig().Entrypoint[0] ?? '']);

  test('the config: node /app/bin/kamaji.js manager, as 65532:65532 in /app, HOME=/tmp', () => {
    const { Entrypoint, Cmd, User, WorkingDir, Env } = imageConfig();
    assert.deepEqual(Entrypoint, ['/usr/local/bin/node', '/app/bin/kamaji.js']);
    assert.deepEqual(Cmd, ['manager']);
    assert.equal(User, '65532:65532');
    assert.equal(WorkingDir, '/app');
    assert.ok(Env.includes('HOME=/tmp') && Env.includes('NODE_ENV=production'), Env.join(' '));
  });

  test('kamaji --help and kamaji manager --help (the whole manager module graph loads)', async () => {
    assert.match(await inImage(['--help']), /^Usage: kamaji <command>$/m);
    assert.match(await inImage(['manager', '--help']), /^Usage: kamaji manager/m);
  });

  test("every production dependency loads from the image's node_modules", async () => {
    const output = await node(`
      const load = require('node:module').createRequire('/app/package.json');
      const names = Object.keys(require('/app/package.json').dependencies);
      for (const name of names) load(name);
      console.log(names.join(' '));`);
    assert.equal(output.trim(), '@kubernetes/client-node etcd3 yaml');
  });

  test('it runs as 65532 ("nonroot") and can write nowhere: the root, /tmp included, is read-only', async () => {
    const output = await node(`
      const fs = require('node:fs');
      const tryWrite = (path) => { try { fs.writeFileSync(path, 'x'); return 'written'; } catch (e) { return e.code; } };
      console.log(process.getuid(), process.getgid(), require('node:os').userInfo().username, process.env.HOME);
      console.log(['/app/x', '/tmp/x', '/usr/local/bin/node'].map(tryWrite).join(' '));`);
    assert.deepEqual(output.trim().split('\n'), ['65532 65532 nonroot /tmp', 'EROFS EROFS EROFS']);
  });
});
