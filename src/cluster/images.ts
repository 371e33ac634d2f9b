import { createHash } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { constants, gzip } from 'node:zlib';
import {
  binaryPath,
  cacheRoot,
  installAtomically,
  isExecutable,
  scratchDirectory,
  withLock,
} from '../toolchain/cache.ts';
import { goEnvironment } from '../toolchain/go-build.ts';
import { runCommand } from './command.ts';
import { ctr } from './containerd.ts';
import type { StateLayout } from './state.ts';
import { type TarEntry, tarArchive } from './tar.ts';

/** An image made of one static binary. */
export interface BinaryImage {
  /** Fully qualified: a short name is stored as is, but the kubelet asks for `docker.io/<name>`. */
  reference: string;
  binaryName: string;
  binaryPath: string;
}

const BINARY_DIR = '/usr/local/bin';
const PATH = `PATH=${BINARY_DIR}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin`;

const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

interface Blob {
  mediaType: string;
  digest: string;
  size: number;
  content: Buffer;
}

function blob(mediaType: string, content: Buffer): Blob {
  return { mediaType, digest: `sha256:${sha256(content)}`, size: content.length, content };
}

function jsonBlob(mediaType: string, value: unknown): Blob {
  return blob(mediaType, Buffer.from(JSON.stringify(value)));
}

function sha256(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/**
 * The image's only layer: the binary at /usr/local/bin/<name> (where upstream images keep it, and what their
 * static pods run by name), plus /tmp, which Go programs expect.
 */
export function binaryLayer(binaryName: string, binary: Buffer): Buffer {
  const directories: TarEntry[] = ['usr', 'usr/local', 'usr/local/bin'].map((path) => ({
    type: 'directory',
    path,
    mode: 0o755,
  }));
  return tarArchive([
    ...directories,
    { type: 'directory', path: 'tmp', mode: 0o1777 },
    { type: 'file', path: `${BINARY_DIR.slice(1)}/${binaryName}`, mode: 0o755, content: binary },
  ]);
}

export interface OciArchive {
  /** An OCI image layout as one tar stream, the form `ctr images import` reads. */
  archive: Buffer;
  manifestDigest: string;
}

/** The OCI image layout around one layer, given as its tar and as that tar gzipped. */
export function ociArchive(reference: string, binaryName: string, layerTar: Buffer, layerGzip: Buffer): OciArchive {
  const layer = blob(MEDIA_TYPES.layer, layerGzip);
  const config = jsonBlob(MEDIA_TYPES.config, {
    architecture: 'amd64',
    os: 'linux',
    config: { Entrypoint: [`${BINARY_DIR}/${binaryName}`], Env: [PATH] },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] },
  });
  const descriptor = ({ mediaType, digest, size }: Blob) => ({ mediaType, digest, size });
  const manifest = jsonBlob(MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: descriptor(config),
    layers: [descriptor(layer)],
  });
  const index = {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.index,
    manifests: [
      {
        ...descriptor(manifest),
        platform: { architecture: 'amd64', os: 'linux' },
        // containerd names the image after this annotation, as is; the OCI ref.name is only a tag.
        annotations: {
          'io.containerd.image.name': reference,
          'org.opencontainers.image.ref.name': reference.slice(reference.lastIndexOf(':') + 1),
        },
      },
    ],
  };
  const file = (path: string, content: Buffer): TarEntry => ({ type: 'file', path, mode: 0o644, content });
  const archive = tarArchive([
    file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))),
    file('index.json', Buffer.from(JSON.stringify(index))),
    { type: 'directory', path: 'blobs', mode: 0o755 },
    { type: 'directory', path: 'blobs/sha256', mode: 0o755 },
    ...[layer, config, manifest].map((part) =>
      file(`blobs/sha256/${part.digest.slice('sha256:'.length)}`, part.content),
    ),
  ]);
  return { archive, manifestDigest: manifest.digest };
}

export async function buildImageArchive(image: BinaryImage): Promise<OciArchive> {
  const layerTar = binaryLayer(image.binaryName, await readFile(image.binaryPath));
  // The layer is only ever unpacked on this machine: the fastest compression will do.
  const layerGzip = await promisify(gzip)(layerTar, { level: constants.Z_BEST_SPEED });
  return ociArchive(image.reference, image.binaryName, layerTar, layerGzip);
}

/** Digest of each image in containerd's k8s.io namespace, by name. */
async function importedImages(layout: StateLayout): Promise<Map<string, string>> {
  const listing = await ctr(layout, ['images', 'ls']);
  const digests = new Map<string, string>();
  for (const line of listing.stdout.split('\n').slice(1)) {
    const [reference, , digest] = line.split(/\s+/);
    if (reference && digest) digests.set(reference, digest);
  }
  return digests;
}

/** Builds each image and imports it into containerd for the kubelet, unless the same image is there already. */
export async function importImages(layout: StateLayout, images: readonly BinaryImage[]): Promise<void> {
  const present = await importedImages(layout);
  await Promise.all(
    images.map(async (image) => {
      const { archive, manifestDigest } = await buildImageArchive(image);
      if (present.get(image.reference) === manifestDigest) return;
      await ctr(layout, ['images', 'import', '-'], 'k8s.io', archive);
    }),
  );
}

const PAUSE_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'pause', 'pause.go');

/** The pause binary, built from src/cluster/pause once per version of its source and kept in the toolchain cache. */
export async function ensurePauseBinary(cacheDir = cacheRoot()): Promise<string> {
  const version = `src-${sha256(await readFile(PAUSE_SOURCE)).slice(0, 12)}`;
  const path = binaryPath(cacheDir, 'pause', version);
  if (await isExecutable(path)) return path;
  return withLock(join(cacheDir, 'locks', `pause-${version}.lock`), async () => {
    if (await isExecutable(path)) return path;
    const scratch = await scratchDirectory(cacheDir);
    try {
      const output = join(scratch, 'pause');
      await runCommand('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', output, PAUSE_SOURCE], {
        env: goEnvironment(),
        cwd: dirname(PAUSE_SOURCE),
      });
      await installAtomically(output, path);
      return path;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}
