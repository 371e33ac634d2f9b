import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { binaryPath } from './cache.ts';
import { ensureComponent } from './ensure.ts';
import { ETCD_VERSION, KUBERNETES_VERSION } from './versions.ts';

const run = promisify(execFile);
const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

/** A loopback HTTP server that plays the release hosts: `/<host>/<path>` → file contents. */
class ReleaseFixtureServer {
  readonly files = new Map<string, Buffer>();
  readonly hits = new Map<string, number>();
  private readonly server: Server = createServer((request, response) => this.serve(request.url ?? '', response));
  url = '';

  private serve(path: string, response: ServerResponse): void {
    this.hits.set(path, (this.hits.get(path) ?? 0) + 1);
    const body = this.files.get(path);
    if (!body) {
      response.writeHead(404).end('not found');
      return;
    }
    response.writeHead(200, { 'content-length': body.length }).end(body);
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

describe('toolchain ensure by download (loopback release fixture)', () => {
  const server = new ReleaseFixtureServer();
  let work = '';
  const quiet = { report: () => undefined, strategies: ['download'] as const };

  before(async () => {
    await server.start();
    work = await mkdtemp(join(tmpdir(), 'kamaji-toolchain-test-'));
    const kubectl = Buffer.from('#!/bin/sh\necho fixture-kubectl\n');
    const kubectlPath = `/dl.k8s.io/release/${KUBERNETES_VERSION}/bin/linux/amd64/kubectl`;
    server.files.set(kubectlPath, kubectl);
    server.files.set(`${kubectlPath}.sha256`, Buffer.from(`${sha256(kubectl)}\n`));

    const kubeletPath = `/dl.k8s.io/release/${KUBERNETES_VERSION}/bin/linux/amd64/kubelet`;
    server.files.set(kubeletPath, Buffer.from('tampered'));
    server.files.set(`${kubeletPath}.sha256`, Buffer.from(`${sha256('the real kubelet')}\n`));

    const archiveDir = join(work, 'archive', `etcd-${ETCD_VERSION}-linux-amd64`);
    await mkdir(archiveDir, { recursive: true });
    await writeFile(join(archiveDir, 'etcd'), '#!/bin/sh\necho fixture-etcd\n', { mode: 0o755 });
    const archive = join(work, 'etcd.tar.gz');
    await run('tar', ['-czf', archive, '-C', join(work, 'archive'), `etcd-${ETCD_VERSION}-linux-amd64`]);
    const archiveBytes = await readFile(archive);
    const releases = `/github.com/etcd-io/etcd/releases/download/${ETCD_VERSION}`;
    server.files.set(`${releases}/etcd-${ETCD_VERSION}-linux-amd64.tar.gz`, archiveBytes);
    server.files.set(
      `${releases}/SHA256SUMS`,
      Buffer.from(
        `${'0'.repeat(64)}  etcd-${ETCD_VERSION}-linux-arm64.tar.gz\n${sha256(archiveBytes)}  etcd-${ETCD_VERSION}-linux-amd64.tar.gz\n`,
      ),
    );
  });

  after(async () => {
    await server.stop();
    await rm(work, { recursive: true, force: true });
  });

  test('a binary is downloaded, verified against its .sha256, installed, and then served from the cache', async () => {
    const cacheDir = join(work, 'cache-single');
    const first = await ensureComponent('kubectl', { ...quiet, cacheDir, mirror: server.url });
    assert.equal(first.obtainedBy, 'download');
    assert.equal(first.path, binaryPath(cacheDir, 'kubectl', KUBERNETES_VERSION));
    assert.equal((await run(first.path, [])).stdout, 'fixture-kubectl\n');
    const second = await ensureComponent('kubectl', { ...quiet, cacheDir, mirror: server.url });
    assert.equal(second.obtainedBy, 'cache');
    assert.deepEqual(await readdir(join(cacheDir, 'tmp')), [], 'no scratch directories left');
  });

  test('a release archive is verified against the checksum list and the binary extracted', async () => {
    const cacheDir = join(work, 'cache-archive');
    const etcd = await ensureComponent('etcd', { ...quiet, cacheDir, mirror: server.url });
    assert.equal((await run(etcd.path, [])).stdout, 'fixture-etcd\n');
  });

  test('a download whose checksum does not match is refused and nothing is cached', async () => {
    const cacheDir = join(work, 'cache-mismatch');
    await assert.rejects(
      ensureComponent('kubelet', { ...quiet, cacheDir, mirror: server.url }),
      /checksum mismatch for https:\/\/dl\.k8s\.io\/.*kubelet/,
    );
    await assert.rejects(readFile(binaryPath(cacheDir, 'kubelet', KUBERNETES_VERSION)), { code: 'ENOENT' });
    assert.deepEqual(await readdir(join(cacheDir, 'tmp')), []);
  });

  test('two concurrent ensures download once and both get the same binary', async () => {
    const cacheDir = join(work, 'cache-concurrent');
    const binaryUrl = `/dl.k8s.io/release/${KUBERNETES_VERSION}/bin/linux/amd64/kubectl`;
    const before = server.hits.get(binaryUrl) ?? 0;
    const [a, b] = await Promise.all([
      ensureComponent('kubectl', { ...quiet, cacheDir, mirror: server.url }),
      ensureComponent('kubectl', { ...quiet, cacheDir, mirror: server.url }),
    ]);
    assert.deepEqual([a.obtainedBy, b.obtainedBy].sort(), ['cache', 'download']);
    assert.equal(a.path, b.path);
    assert.equal((server.hits.get(binaryUrl) ?? 0) - before, 1);
  });

  test('a lock left by a process that no longer exists does not block', async () => {
    const cacheDir = join(work, 'cache-stale-lock');
    await mkdir(join(cacheDir, 'locks'), { recursive: true });
    const { stdout } = await run('sh', ['-c', 'echo $$']);
    await writeFile(join(cacheDir, 'locks', `kubectl-${KUBERNETES_VERSION}.lock`), stdout.trim());
    const ensured = await ensureComponent('kubectl', { ...quiet, cacheDir, mirror: server.url });
    assert.equal(ensured.obtainedBy, 'download');
  });

  test('a component without release binaries says it can only be built', async () => {
    await assert.rejects(
      ensureComponent('konnectivity-server', { ...quiet, cacheDir: join(work, 'cache-none'), mirror: server.url }),
      /konnectivity-server publishes no release binaries; it can only be built/,
    );
  });
});
