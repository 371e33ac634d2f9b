import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { layerEntries, ociImage } from './images.ts';
import {
  isAppSourceFile,
  isRuntimeDependencyFile,
  OPERATOR_IMAGE_REPOSITORY,
  operatorImageReference,
  operatorImageSpec,
  operatorImageTag,
  type PackageLock,
  productionPackageDirs,
} from './operator-image.ts';

const REPO_ROOT = join(import.meta.dirname, '..', '..');
const lock = JSON.parse(await readFile(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as PackageLock;
const devOnlyDirs = Object.entries(lock.packages)
  .filter(([, entry]) => entry.dev)
  .map(([dir]) => dir);
const packageJson = JSON.parse(await readFile(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

test("the tag is package.json's version, and the reference the contract's repository", () => {
  assert.equal(operatorImageTag(), `v${packageJson.version}`);
  assert.equal(operatorImageReference(), `docker.io/kamaji/kamaji-ts:v${packageJson.version}`);
  assert.equal(operatorImageReference('dev-1'), `${OPERATOR_IMAGE_REPOSITORY}:dev-1`);
  assert.throws(() => operatorImageReference('-x'), /not a valid OCI tag/);
  assert.throws(() => operatorImageReference('a/b'), /not a valid OCI tag/);
});

describe('production packages from the lock file', () => {
  test('dev-only packages and links are left out, nested production ones kept', () => {
    const lock: PackageLock = {
      lockfileVersion: 3,
      packages: {
        '': {},
        'node_modules/yaml': {},
        'node_modules/typescript': { dev: true },
        'node_modules/a/node_modules/b': {},
        'node_modules/fsevents': { optional: true },
        'node_modules/tool': { dev: true, optional: true },
        'node_modules/local': { link: true },
      },
    };
    assert.deepEqual(productionPackageDirs(lock), [
      'node_modules/a/node_modules/b',
      'node_modules/fsevents',
      'node_modules/yaml',
    ]);
  });

  test('a lock file without packages (npm 6) is refused with the fix', () => {
    assert.throws(() => productionPackageDirs({ lockfileVersion: 1, packages: {} }), /npm 7 or later/);
  });

  test("this repository's: every dependency, no devDependency (but what a dependency needs too)", () => {
    const dirs = productionPackageDirs(lock);
    for (const name of Object.keys(packageJson.dependencies)) assert.ok(dirs.includes(`node_modules/${name}`), name);
    // @types/node is a devDependency and a dependency of @kubernetes/client-node: only dev-only ones stay out.
    for (const name of ['typescript', '@biomejs/biome', 'node']) {
      assert.ok(!dirs.some((dir) => dir.endsWith(`node_modules/${name}`)), `devDependency ${name} in the image`);
    }
    assert.ok(devOnlyDirs.length >= 3);
    assert.deepEqual(
      dirs.filter((dir) => devOnlyDirs.includes(dir)),
      [],
    );
  });
});

test('files left out: tests, type declarations, source maps, docs, other platforms; licenses kept', () => {
  assert.equal(isAppSourceFile('src/cluster/images.ts'), true);
  assert.equal(isAppSourceFile('src/cluster/images.test.ts'), false);
  assert.equal(isRuntimeDependencyFile('node_modules/yaml/dist/index.js'), true);
  assert.equal(isRuntimeDependencyFile('node_modules/yaml/dist/index.d.ts'), false);
  assert.equal(isRuntimeDependencyFile('node_modules/yaml/dist/index.js.map'), false);
  assert.equal(isRuntimeDependencyFile('node_modules/yaml/README.md'), false);
  assert.equal(isRuntimeDependencyFile('node_modules/yaml/LICENSE'), true);
  assert.equal(isRuntimeDependencyFile('node_modules/x/LICENSE.md'), true);
  assert.equal(isRuntimeDependencyFile('node_modules/bare-fs/prebuilds/win32-x64/bare-fs.bare'), false);
  assert.equal(isRuntimeDependencyFile('node_modules/bare-fs/prebuilds/linux-x64/bare-fs.bare'), true);
});

describe("this repository's operator image", async () => {
  const spec = await operatorImageSpec();
  const paths = spec.entries.map((entry) => entry.path);

  test('runs node /app/bin/kamaji.js manager as 65532 in /app, HOME on the emptyDir', () => {
    assert.equal(spec.reference, `docker.io/kamaji/kamaji-ts:v${packageJson.version}`);
    assert.deepEqual(spec.entrypoint, ['/usr/local/bin/node', '/app/bin/kamaji.js']);
    assert.deepEqual(spec.cmd, ['manager']);
    assert.equal(spec.user, '65532:65532');
    assert.equal(spec.workingDir, '/app');
    assert.deepEqual(spec.env, ['HOME=/tmp', 'NODE_ENV=production', 'KAMAJI_KINE_BINARY=/usr/local/bin/kine']);
  });

  test('holds node, the libraries it links, the app, its production deps; no tests, no devDependencies', () => {
    for (const path of [
      '/usr/local/bin/node',
      '/usr/local/bin/kine',
      '/app/bin/kamaji.js',
      '/app/package.json',
      '/app/src/cli/main.ts',
    ]) {
      assert.ok(paths.includes(path), path);
    }
    assert.ok(
      paths.some((path) => /\/libc\.so\.6$/.test(path)),
      'libc',
    );
    assert.ok(paths.some((path) => path.endsWith('/ld-linux-x86-64.so.2')) && paths.includes('/lib64'), 'ld.so');
    for (const name of Object.keys(packageJson.dependencies)) {
      assert.ok(paths.includes(`/app/node_modules/${name}/package.json`), name);
    }
    assert.deepEqual(
      paths.filter((path) => path.endsWith('.test.ts')),
      [],
    );
    for (const dir of devOnlyDirs) assert.ok(!paths.some((path) => path.startsWith(`/app/${dir}/`)), dir);
    assert.ok(!paths.some((path) => path.startsWith('/app/test/') || path.startsWith('/app/bench/')));
  });

  test('its layer has /tmp (the emptyDir mount point, sticky) and a passwd entry for 65532', () => {
    const members = layerEntries(
      spec.entries.map((entry) =>
        entry.type === 'host-file'
          ? { type: 'file', path: entry.path, mode: entry.mode, content: Buffer.alloc(0) }
          : entry,
      ),
    );
    assert.deepEqual(
      members.find((member) => member.path === 'tmp'),
      { type: 'directory', path: 'tmp', mode: 0o1777 },
    );
    const passwd = members.find((member) => member.path === 'etc/passwd');
    assert.ok(passwd?.type === 'file' && /^nonroot:x:65532:65532:/m.test(passwd.content.toString()));
  });

  test('the OCI config says all of it; an image without these fields keeps its config as before', () => {
    const config = (image: ReturnType<typeof ociImage>) =>
      JSON.parse(image.blobs[0]?.content.toString() ?? '{}').config as Record<string, unknown>;
    const layer = Buffer.alloc(1024);
    assert.deepEqual(config(ociImage(spec.reference, spec, layer, layer)), {
      Entrypoint: ['/usr/local/bin/node', '/app/bin/kamaji.js'],
      Cmd: ['manager'],
      Env: [
        'PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin',
        'HOME=/tmp',
        'NODE_ENV=production',
        'KAMAJI_KINE_BINARY=/usr/local/bin/kine',
      ],
      User: '65532:65532',
      WorkingDir: '/app',
    });
    assert.deepEqual(Object.keys(config(ociImage('docker.io/x/y:v1', { entrypoint: ['/y'] }, layer, layer))), [
      'Entrypoint',
      'Env',
    ]);
  });
});
