import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { CoreV1Api, type V1Pod } from '@kubernetes/client-node';
import { adminKubeConfig, startAdminNode, stopAdminNode, waitForNodeReady } from '../../src/cluster/admin-node.ts';
import { operatorImageBuild, operatorImageReference, publishOperatorImage } from '../../src/cluster/operator-image.ts';
import { registryAddress, registryManifestDigest, registryStorageDir } from '../../src/cluster/registry.ts';
import { type StateLayout, stateLayout } from '../../src/cluster/state.ts';
import { Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { NEEDS_ROOT, requireHostPackages } from '../support/needs-root.ts';

const run = promisify(execFile);

interface ImageConfig {
  Entrypoint: string[];
  Cmd: string[];
  Env: string[];
  User: string;
  WorkingDir: string;
}

const KAMAJI_BIN = join(import.meta.dirname, '..', '..', 'bin', 'kamaji.js');

test('kamaji image build --tag T --output DIR: an OCI layout naming the tag, and the digest and sizes printed', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-image-build-'));
  try {
    const { stdout } = await run(process.execPath, [KAMAJI_BIN, 'image', 'build', '--tag', 'try-1', '--output', dir]);
    const [reference, digestLine, sizeLine] = stdout.split('\n');
    assert.equal(reference, 'docker.io/kamaji/kamaji-ts:try-1');
    const digest = digestLine?.replace(/^digest /, '');
    assert.equal(digest, (await operatorImageBuild()).digest);
    assert.match(sizeLine ?? '', /^size \d+\.\d MB compressed, \d+\.\d MB uncompressed/);
    const index = JSON.parse(await readFile(join(dir, 'index.json'), 'utf8'));
    assert.equal(index.manifests[0].digest, digest);
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], 'try-1');
    const manifest = JSON.parse(await readFile(join(dir, 'blobs', 'sha256', digest?.slice(7) ?? ''), 'utf8'));
    for (const blob of [manifest.config, ...manifest.layers]) {
      const content = await readFile(join(dir, 'blobs', 'sha256', blob.digest.slice(7)));
      assert.equal(`sha256:${createHash('sha256').update(content).digest('hex')}`, blob.digest);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

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
    const wanted = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    assert.equal(output.trim(), Object.keys(wanted.dependencies).join(' '));
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

/** What the chart asks of the operator's pod: non-root, read-only root, nothing it does not need. */
/** The digests of the blobs (manifests included) in the registry's storage. */
async function storedBlobs(layout: StateLayout): Promise<string[]> {
  const paths = await readdir(join(registryStorageDir(layout), 'docker', 'registry', 'v2', 'blobs'), {
    recursive: true,
  });
  return paths
    .map((path) => basename(path))
    .filter((name) => /^[0-9a-f]{64}$/.test(name))
    .sort();
}

const RESTRICTED_POD = {
  restartPolicy: 'Never',
  securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
  volumes: [{ name: 'tmp', emptyDir: {} }],
};
const RESTRICTED_CONTAINER = {
  imagePullPolicy: 'Always',
  securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
  volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
};

describe('the operator image in a local admin node: pushed, pulled, run restricted', { skip: NEEDS_ROOT }, () => {
  const supervisor = new Supervisor();
  let layout: StateLayout | undefined;

  before(async () => {
    await requireHostPackages();
    const stateDir = await mkdtemp('/tmp/kamaji-operator-image-');
    layout = stateLayout(stateDir);
    await startAdminNode({ stateDir, supervisor, report: () => undefined });
    await waitForNodeReady(layout);
  });

  after(async () => {
    if (layout) await stopAdminNode(layout, { removeState: true });
    await supervisor.stopAll();
  });

  const node = (): StateLayout => {
    if (!layout) throw new Error('the admin node did not start (see the before hook)');
    return layout;
  };

  test('published under its version, then a second tag of the same build: one digest, no new blob', async (t) => {
    const address = registryAddress(node());
    let started = Date.now();
    assert.equal(await publishOperatorImage(node()), operatorImageReference());
    t.diagnostic(`first push ${Date.now() - started} ms`);
    const digest = await registryManifestDigest(address, operatorImageReference());
    assert.equal(digest, (await operatorImageBuild()).digest);
    const lines: string[] = [];
    const blobsBefore = await storedBlobs(node());
    assert.ok(blobsBefore.includes(digest?.slice('sha256:'.length) ?? ''), 'the manifest among the stored blobs');
    started = Date.now();
    await publishOperatorImage(node(), { tag: 'second', report: (line) => lines.push(line) });
    t.diagnostic(`second tag ${Date.now() - started} ms`);
    assert.equal(await registryManifestDigest(address, operatorImageReference('second')), digest);
    assert.deepEqual(await storedBlobs(node()), blobsBefore);
    await publishOperatorImage(node(), { report: (line) => lines.push(line) });
    assert.match(lines.at(-1) ?? '', /already in the registry/);
  });

  test('a pod with runAsNonRoot and readOnlyRootFilesystem runs manager --help and exits 0', async (t) => {
    const api = (await adminKubeConfig(node())).makeApiClient(CoreV1Api);
    const name = 'operator-image';
    const container = { name, image: operatorImageReference(), args: ['manager', '--help'], ...RESTRICTED_CONTAINER };
    const body = { metadata: { name }, spec: { ...RESTRICTED_POD, containers: [container] } };
    // The default ServiceAccount appears a moment after the controller manager starts.
    await waitFor(() => api.createNamespacedPod({ namespace: 'default', body }), {
      timeoutMs: 60_000,
      intervalMs: 500,
      description: 'the pod to be accepted',
    });
    const created = Date.now();
    const pod: V1Pod = await waitFor(
      async () => {
        const current = await api.readNamespacedPod({ namespace: 'default', name });
        if (current.status?.phase === 'Succeeded' || current.status?.phase === 'Failed') return current;
        throw new Error(`phase ${current.status?.phase}: ${JSON.stringify(current.status?.containerStatuses ?? [])}`);
      },
      { timeoutMs: 90_000, intervalMs: 500, description: 'the operator-image pod to finish' },
    );
    t.diagnostic(`pod finished ${((Date.now() - created) / 1000).toFixed(1)}s after it was accepted`);
    const log = await api.readNamespacedPodLog({ namespace: 'default', name });
    assert.equal(pod.status?.phase, 'Succeeded', log);
    assert.equal(pod.status?.containerStatuses?.[0]?.state?.terminated?.exitCode, 0);
    assert.match(log, /^Usage: kamaji manager/m);
  });
});
