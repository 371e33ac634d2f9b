import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { constants, createGunzip, gzip } from 'node:zlib';
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

/** A member of an image: given as is (a `TarEntry`, paths absolute or not), or a file copied from the host. */
export type ImageEntry = TarEntry | { type: 'host-file'; path: string; mode: number; source: string };

/** An image: a set of files (one layer) and the command it runs. */
export interface ImageSpec {
  /** Fully qualified: a short name is stored as is, but the kubelet asks for `docker.io/<name>`. */
  reference: string;
  entrypoint: readonly string[];
  /** Default arguments after the entrypoint (a pod's `args` replace them). */
  cmd?: readonly string[];
  /** `uid:gid` to run as; root when left out. */
  user?: string;
  workingDir?: string;
  /** `NAME=value` pairs after PATH. */
  env?: readonly string[];
  entries: readonly ImageEntry[];
}

/** What an image runs, and as whom, as its OCI config says it. */
export type ImageRunConfig = Pick<ImageSpec, 'entrypoint' | 'cmd' | 'user' | 'workingDir' | 'env'>;

/** Where upstream images keep their binaries, and what their manifests run by name. */
export const BINARY_DIR = '/usr/local/bin';
const PATH = `PATH=${BINARY_DIR}:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin`;

/** An image of one static binary at /usr/local/bin/<installedName>, which it runs. */
export function binaryImage(reference: string, binaryPath: string, installedName = basename(binaryPath)): ImageSpec {
  const path = `${BINARY_DIR}/${installedName}`;
  return { reference, entrypoint: [path], entries: [{ type: 'host-file', path, mode: 0o755, source: binaryPath }] };
}

const MEDIA_TYPES = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar+gzip',
} as const;

export const OCI_MANIFEST_MEDIA_TYPE = MEDIA_TYPES.manifest;

export interface Blob {
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

const withoutLeadingSlash = (path: string): string => path.replace(/^\/+/, '');

function sameEntry(a: TarEntry, b: TarEntry): boolean {
  if (a.type === 'file' && b.type === 'file') return a.mode === b.mode && a.content.equals(b.content);
  if (a.type === 'symlink' && b.type === 'symlink') return a.target === b.target;
  if (a.type === 'directory' && b.type === 'directory') return a.mode === b.mode;
  return false;
}

/**
 * The layer's members in a canonical order: the given entries, /tmp (Go programs expect it) and every missing
 * parent directory (0755), sorted by path (a parent before its children), each path once. The same path given
 * twice must be the same member.
 */
export function layerEntries(entries: readonly TarEntry[]): TarEntry[] {
  const byPath = new Map<string, TarEntry>();
  const add = (entry: TarEntry) => {
    const normalized = { ...entry, path: withoutLeadingSlash(entry.path) };
    const existing = byPath.get(normalized.path);
    if (existing && !sameEntry(existing, normalized))
      throw new Error(`image: two different members at /${normalized.path}`);
    byPath.set(normalized.path, normalized);
  };
  for (const entry of [{ type: 'directory', path: 'tmp', mode: 0o1777 } as const, ...entries]) add(entry);
  for (const path of [...byPath.keys()]) {
    const parts = path.split('/');
    for (let depth = 1; depth < parts.length; depth += 1) {
      const parent = parts.slice(0, depth).join('/');
      const existing = byPath.get(parent);
      if (existing === undefined) byPath.set(parent, { type: 'directory', path: parent, mode: 0o755 });
      else if (existing.type !== 'directory') throw new Error(`image: /${parent} is not a directory (in /${path})`);
    }
  }
  return [...byPath.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

/** The image as OCI blobs: a manifest, its config and its one layer. */
export interface OciImage {
  reference: string;
  manifest: Blob;
  /** The config, then the layer. */
  blobs: readonly Blob[];
}

/** The OCI manifest and config around one layer, given as its tar and as that tar gzipped. */
export function ociImage(reference: string, run: ImageRunConfig, layerTar: Buffer, layerGzip: Buffer): OciImage {
  const layer = blob(MEDIA_TYPES.layer, layerGzip);
  const config = jsonBlob(MEDIA_TYPES.config, {
    architecture: 'amd64',
    os: 'linux',
    // Fields left undefined are left out of the JSON: images without them keep the digests they always had.
    config: {
      Entrypoint: run.entrypoint,
      Cmd: run.cmd,
      Env: [PATH, ...(run.env ?? [])],
      User: run.user,
      WorkingDir: run.workingDir,
    },
    rootfs: { type: 'layers', diff_ids: [`sha256:${sha256(layerTar)}`] },
  });
  const manifest = jsonBlob(MEDIA_TYPES.manifest, {
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.manifest,
    config: descriptor(config),
    layers: [descriptor(layer)],
  });
  return { reference, manifest, blobs: [config, layer] };
}

const descriptor = ({ mediaType, digest, size }: Blob) => ({ mediaType, digest, size });

/** The files of an OCI image layout holding one image: `oci-layout`, `index.json`, `blobs/sha256/<hex>`. */
export function ociLayoutEntries(image: OciImage): TarEntry[] {
  const { reference, manifest } = image;
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
  return [
    file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' }))),
    file('index.json', Buffer.from(JSON.stringify(index))),
    { type: 'directory', path: 'blobs', mode: 0o755 },
    { type: 'directory', path: 'blobs/sha256', mode: 0o755 },
    ...[...image.blobs, manifest].map((part) =>
      file(`blobs/sha256/${part.digest.slice('sha256:'.length)}`, part.content),
    ),
  ];
}

/** An OCI image layout as one tar stream, the form `ctr images import` reads. */
export function ociLayout(image: OciImage): Buffer {
  return tarArchive(ociLayoutEntries(image));
}

/**
 * An OCI image layout as a directory (skopeo `oci:DIR`, crane, oras, podman read it). Its index names this one
 * image: an index.json already there is replaced, blobs of other images stay.
 */
export async function writeOciLayout(dir: string, image: OciImage): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const entry of ociLayoutEntries(image)) {
    const path = join(dir, entry.path);
    if (entry.type === 'directory') await mkdir(path, { recursive: true });
    else if (entry.type === 'file') await writeFile(path, entry.content);
  }
}

/** The bytes of an image's layer as pulled (gzipped) and as unpacked (its tar), streamed: never held whole. */
export async function layerSizes(image: OciImage): Promise<{ compressed: number; uncompressed: number }> {
  const layer = image.blobs.find((part) => part.mediaType === MEDIA_TYPES.layer);
  if (!layer) throw new Error(`image ${image.reference} has no layer`);
  let uncompressed = 0;
  const gunzip = createGunzip();
  gunzip.on('data', (chunk: Buffer) => {
    uncompressed += chunk.length;
  });
  const done = new Promise((resolve, reject) => gunzip.on('end', resolve).on('error', reject));
  gunzip.end(layer.content);
  await done;
  return { compressed: layer.size, uncompressed };
}

/** The layer of an image as a tar, the host files read. */
export async function imageLayerTar(spec: ImageSpec): Promise<Buffer> {
  const entries = await Promise.all(
    spec.entries.map(
      async (entry): Promise<TarEntry> =>
        entry.type === 'host-file'
          ? { type: 'file', path: entry.path, mode: entry.mode, content: await readFile(entry.source) }
          : entry,
    ),
  );
  return tarArchive(layerEntries(entries));
}

export async function buildImage(spec: ImageSpec): Promise<OciImage> {
  const layerTar = await imageLayerTar(spec);
  // The fastest compression: the layer goes to this machine's containerd and registry only.
  const layerGzip = await promisify(gzip)(layerTar, { level: constants.Z_BEST_SPEED });
  return ociImage(spec.reference, spec, layerTar, layerGzip);
}

/**
 * What an image is made of, cheaply: the spec with each host file's size, mtime, inode and mode in place of its
 * content. The same key means the same image (the archives are deterministic).
 */
export async function imageSourceKey(spec: ImageSpec): Promise<string> {
  const entries = await Promise.all(
    spec.entries.map(async (entry) => {
      if (entry.type === 'file') return { ...entry, content: sha256(entry.content) };
      if (entry.type !== 'host-file') return entry;
      const info = await stat(entry.source);
      return { ...entry, size: info.size, mtime: info.mtimeMs, inode: info.ino, sourceMode: info.mode };
    }),
  );
  const { reference, entrypoint, cmd, user, workingDir, env } = spec;
  // Undefined fields are left out of the JSON: images without them keep the keys they always had.
  return sha256(Buffer.from(JSON.stringify({ reference, entrypoint, cmd, user, workingDir, env, entries })));
}

/** An image whose digest is known; its blobs are read (or built) only when `load` is called. */
export interface ImageBuild {
  reference: string;
  digest: string;
  load: () => Promise<OciImage>;
}

interface CachedImageRecord {
  manifest: Omit<Blob, 'content'>;
  blobs: Omit<Blob, 'content'>[];
}

/**
 * The image a spec makes, from the machine's image cache (`<cache>/images`: `<source key>.json` naming the blobs,
 * `blobs/sha256/<hex>`) when the same sources were built before by any instance, else built and cached. Building
 * (gzip above all) is most of the cost of images: every later `up` and every other instance skips it.
 */
export async function cachedImage(spec: ImageSpec, cacheDir = cacheRoot()): Promise<ImageBuild> {
  const dir = join(cacheDir, 'images');
  const recordPath = join(dir, `${await imageSourceKey(spec)}.json`);
  const blobPath = (digest: string) => join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length));
  const build = async (): Promise<OciImage> => {
    const image = await buildImage(spec);
    await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
    // Each file appears in one rename: a reader (another instance) sees all of it or nothing.
    const place = async (path: string, content: Buffer) => {
      const temporary = `${path}.${process.pid}.${Math.random().toString(16).slice(2)}`;
      await writeFile(temporary, content);
      await rename(temporary, path);
    };
    for (const part of [...image.blobs, image.manifest]) await place(blobPath(part.digest), part.content);
    const record: CachedImageRecord = {
      manifest: withoutContent(image.manifest),
      blobs: image.blobs.map(withoutContent),
    };
    await place(recordPath, Buffer.from(JSON.stringify(record)));
    return image;
  };
  const record = await readFile(recordPath, 'utf8').then(
    (text) => JSON.parse(text) as CachedImageRecord,
    () => undefined,
  );
  if (!record) {
    const image = await build();
    return { reference: spec.reference, digest: image.manifest.digest, load: async () => image };
  }
  const read = async (part: Omit<Blob, 'content'>): Promise<Blob> => ({
    ...part,
    content: await readFile(blobPath(part.digest)),
  });
  return {
    reference: spec.reference,
    digest: record.manifest.digest,
    load: async () => {
      try {
        return {
          reference: spec.reference,
          manifest: await read(record.manifest),
          blobs: await Promise.all(record.blobs.map(read)),
        };
      } catch {
        return build();
      }
    },
  };
}

const withoutContent = ({ mediaType, digest, size }: Blob) => ({ mediaType, digest, size });

/** Digest of each image in containerd's k8s.io namespace, by name. */
export async function importedImages(layout: StateLayout): Promise<Map<string, string>> {
  const listing = await ctr(layout, ['images', 'ls']);
  const digests = new Map<string, string>();
  for (const line of listing.stdout.split('\n').slice(1)) {
    const [reference, , digest] = line.split(/\s+/);
    if (reference && digest) digests.set(reference, digest);
  }
  return digests;
}

/**
 * Imports each image into containerd for the kubelet, unless the same image (by manifest digest) is there already.
 * Returns the references imported.
 */
export async function importImages(
  layout: StateLayout,
  images: readonly OciImage[],
  present?: ReadonlyMap<string, string>,
): Promise<string[]> {
  const known = present ?? (await importedImages(layout));
  const missing = images.filter((image) => known.get(image.reference) !== image.manifest.digest);
  for (const image of missing) await ctr(layout, ['images', 'import', '-'], 'k8s.io', ociLayout(image));
  return missing.map((image) => image.reference);
}

/** Go programs of our own, each one file at src/cluster/<name>/<name>.go, built into static binaries. */
export type OwnProgram = 'pause' | 'http-echo';

export function ownProgramSource(name: OwnProgram): string {
  return join(dirname(fileURLToPath(import.meta.url)), name, `${name}.go`);
}

/** A program of ours, built once per version of its source (`src-<hash>`) and kept in the toolchain cache. */
export async function ensureOwnProgram(name: OwnProgram, cacheDir = cacheRoot()): Promise<string> {
  const source = ownProgramSource(name);
  const version = `src-${sha256(await readFile(source)).slice(0, 12)}`;
  const path = binaryPath(cacheDir, name, version);
  if (await isExecutable(path)) return path;
  return withLock(join(cacheDir, 'locks', `${name}-${version}.lock`), async () => {
    if (await isExecutable(path)) return path;
    const scratch = await scratchDirectory(cacheDir);
    try {
      const output = join(scratch, name);
      await runCommand('go', ['build', '-trimpath', '-ldflags', '-s -w', '-o', output, source], {
        env: goEnvironment(),
        cwd: dirname(source),
      });
      await installAtomically(output, path);
      return path;
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
}

/** The pause binary, built from src/cluster/pause. */
export function ensurePauseBinary(cacheDir = cacheRoot()): Promise<string> {
  return ensureOwnProgram('pause', cacheDir);
}
