import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync, gzipSync } from 'node:zlib';
import { binaryLayer, ociArchive } from './images.ts';

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
    const binary = Buffer.from('#!/bin/true\n');
    const layerTar = binaryLayer('kube-apiserver', binary);
    const { archive, manifestDigest } = ociArchive(
      'registry.k8s.io/kube-apiserver:v1.35.4',
      'kube-apiserver',
      layerTar,
      gzipSync(layerTar),
    );
    await writeFile(join(dir, 'image.tar'), archive);
    await run('tar', ['-xf', join(dir, 'image.tar'), '-C', dir]);
    const json = async <T>(path: string) => JSON.parse(await readFile(join(dir, path), 'utf8')) as T;
    const blob = (descriptor: Descriptor) => readFile(join(dir, 'blobs', 'sha256', descriptor.digest.slice(7)));

    assert.deepEqual(await json('oci-layout'), { imageLayoutVersion: '1.0.0' });
    const index = await json<{ manifests: Descriptor[] }>('index.json');
    assert.equal(index.manifests.length, 1);
    const [entry] = index.manifests;
    assert.equal(entry?.digest, manifestDigest);
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
    assert.ok(stdout.split('\n').includes('usr/local/bin/kube-apiserver'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
