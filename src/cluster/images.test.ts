import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { binaryImage, buildImage, cachedImage, layerEntries, layerSizes, ociLayout, writeOciLayout } from './images.ts';

const run = promisify(execFile);
const digest = (content: Buffer) => `sha256:${createHash('sha256').update(content).digest('hex')}`;

interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

test('an OCI layout of one binary: every blob matches its digest and the config runs the binary by PATH', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-oci-'));
  try {
    await writeFile(join(dir, 'built-binary'), '#!/bin/true\n');
    const image = await buildImage(
      binaryImage('registry.k8s.io/kube-apiserver:v1.35.4', join(dir, 'built-binary'), 'kube-apiserver'),
    );
    await writeFile(join(dir, 'image.tar'), ociLayout(image));
    await run('tar', ['-xf', join(dir, 'image.tar'), '-C', dir]);
    const json = async <T>(path: string) => JSON.parse(await readFile(join(dir, path), 'utf8')) as T;
    const blob = (descriptor: Descriptor) => readFile(join(dir, 'blobs', 'sha256', descriptor.digest.slice(7)));

    assert.deepEqual(await json('oci-layout'), { imageLayoutVersion: '1.0.0' });
    const index = await json<{ manifests: Descriptor[] }>('index.json');
    assert.equal(index.manifests.length, 1);
    const [entry] = index.manifests;
    assert.equal(entry?.digest, image.manifest.digest);
    assert.equal(entry?.annotations?.['io.containerd.image.name'], 'registry.k8s.io/kube-apiserver:v1.35.4');

    for (const descriptor of [entry!]) assert.equal(digest(await blob(descriptor)), descriptor.digest);
    const manifest = JSON.parse((await blob(entry!)).toString()) as { config: Descriptor; layers: Descriptor[] };
    const layer = await blob(manifest.layers[0]!);
    assert.equal(digest(layer), manifest.layers[0]?.digest);
    assert.equal(layer.length, manifest.layers[0]?.size);
    const config = JSON.parse((await blob(manifest.config)).toString()) as {
      config: { Entrypoint: string[]; Env: string[] };
      rootfs: { diff_ids: string[] };
    };
    assert.deepEqual(config.config.Entrypoint, ['/usr/local/bin/kube-apiserver']);
    assert.match(config.config.Env[0] ?? '', /^PATH=\/usr\/local\/bin:/);
    assert.deepEqual(config.rootfs.diff_ids, [digest(gunzipSync(layer))], 'the diff id is the uncompressed layer');

    await writeFile(join(dir, 'layer.tar'), gunzipSync(layer));
    const { stdout } = await run('tar', ['-tf', join(dir, 'layer.tar')]);
    assert.deepEqual(stdout.trim().split('\n'), [
      'tmp/',
      'usr/',
      'usr/local/',
      'usr/local/bin/',
      'usr/local/bin/kube-apiserver',
    ]);
    assert.deepEqual(
      (await buildImage(binaryImage('registry.k8s.io/kube-apiserver:v1.35.4', join(dir, 'built-binary')))).manifest
        .digest,
      (await buildImage(binaryImage('registry.k8s.io/kube-apiserver:v1.35.4', join(dir, 'built-binary')))).manifest
        .digest,
      'the same files always make the same image',
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('layer members: the given ones, /tmp and every missing parent, sorted, each path once', () => {
  const content = Buffer.from('x');
  const entries = layerEntries([
    { type: 'file', path: '/usr/sbin/tool', mode: 0o755, content },
    { type: 'symlink', path: '/usr/sbin/alias', target: 'tool' },
    { type: 'symlink', path: '/lib', target: 'usr/lib' },
    { type: 'file', path: 'usr/sbin/tool', mode: 0o755, content: Buffer.from('x') },
    { type: 'directory', path: '/run', mode: 0o700 },
  ]);
  assert.deepEqual(
    entries.map(
      (entry) => `${entry.type} ${entry.path}${entry.type === 'directory' ? ` ${entry.mode.toString(8)}` : ''}`,
    ),
    [
      'symlink lib',
      'directory run 700',
      'directory tmp 1777',
      'directory usr 755',
      'directory usr/sbin 755',
      'symlink usr/sbin/alias',
      'file usr/sbin/tool',
    ],
  );
  assert.throws(
    () =>
      layerEntries([
        { type: 'file', path: '/a', mode: 0o755, content },
        { type: 'file', path: '/a', mode: 0o755, content: Buffer.from('y') },
      ]),
    /two different members at \/a/,
  );
  assert.throws(
    () =>
      layerEntries([
        { type: 'symlink', path: '/lib', target: 'usr/lib' },
        { type: 'file', path: '/lib/x', mode: 0o644, content },
      ]),
    /\/lib is not a directory/,
  );
});

test('the image cache: built once per set of sources, then read back with the same digest and blobs', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-image-cache-'));
  try {
    const binary = join(dir, 'tool');
    await writeFile(binary, 'one\n');
    const spec = binaryImage('docker.io/kamaji/tool:v1', binary);
    const first = await cachedImage(spec, join(dir, 'cache'));
    const built = await first.load();
    assert.equal(built.manifest.digest, first.digest);
    const records = (await readdir(join(dir, 'cache', 'images'))).filter((name) => name.endsWith('.json'));
    assert.equal(records.length, 1, 'one record');

    const again = await cachedImage(spec, join(dir, 'cache'));
    assert.equal(again.digest, first.digest);
    const loaded = await again.load();
    assert.deepEqual(
      loaded.blobs.map((blob) => blob.content),
      built.blobs.map((blob) => blob.content),
    );
    assert.deepEqual(loaded.manifest.content, built.manifest.content);

    await writeFile(binary, 'two\n');
    await utimes(binary, new Date(), new Date(Date.now() + 5_000));
    const changed = await cachedImage(spec, join(dir, 'cache'));
    assert.notEqual(changed.digest, first.digest, 'changed sources make another image');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the OCI layout as a directory holds the same files as the tar; layer sizes as pulled and unpacked', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-oci-dir-'));
  try {
    const image = await buildImage(binaryImage('docker.io/kamaji/tool:v1', '/usr/bin/true', 'tool'));
    await writeOciLayout(join(dir, 'layout'), image);
    await mkdir(join(dir, 'from-tar'));
    await writeFile(join(dir, 'image.tar'), ociLayout(image));
    await run('tar', ['-xf', join(dir, 'image.tar'), '-C', join(dir, 'from-tar')]);
    const files = async (root: string) => {
      const paths = (await readdir(root, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile());
      const contents = await Promise.all(
        paths.map(async (entry) => [
          join(entry.parentPath, entry.name).slice(root.length),
          digest(await readFile(join(entry.parentPath, entry.name))),
        ]),
      );
      return contents.sort();
    };
    const layout = await files(join(dir, 'layout'));
    assert.equal(layout.length, 5, 'oci-layout, index.json, manifest, config, layer');
    assert.deepEqual(layout, await files(join(dir, 'from-tar')));
    const layer = image.blobs[1]?.content ?? Buffer.alloc(0);
    assert.deepEqual(await layerSizes(image), { compressed: layer.length, uncompressed: gunzipSync(layer).length });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
