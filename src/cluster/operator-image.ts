import { readFileSync } from 'node:fs';
import { lstat, readdir, readFile, readlink, realpath } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { ensureComponent } from '../toolchain/ensure.ts';
import { hostEntries, parseLddPaths } from './cluster-images.ts';
import { runCommand } from './command.ts';
import { BINARY_DIR, cachedImage, type ImageBuild, type ImageEntry, type ImageSpec, type OciImage } from './images.ts';
import { recordedPid } from './pid-files.ts';
import { pushImage, REGISTRY_PROCESS, registryAddress, registryManifestDigest } from './registry.ts';
import type { StateLayout } from './state.ts';

export const OPERATOR_IMAGE_REPOSITORY = 'docker.io/kamaji/kamaji-ts';

/** The repository the app is run from: its bin/, src/, package.json and node_modules go into the image. */
const REPO_ROOT = join(import.meta.dirname, '..', '..');
/** Where the app lives in the image. */
export const APP_DIR = '/app';
export const NODE_PATH = `${BINARY_DIR}/node`;
/** kine, for reaching a tenant's key space on a SQL DataStore (migration, backup): see src/datastore/keyspace. */
export const KINE_PATH = `${BINARY_DIR}/kine`;
/** distroless' "nonroot": no name the cluster could confuse with a host user, and never 0. */
export const OPERATOR_USER = '65532:65532';

/** `v` and package.json's version. */
export function operatorImageTag(): string {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return `v${version}`;
}

/** OCI's tag grammar. */
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/** The operator image's full reference under a tag (package.json's version by default). */
export function operatorImageReference(tag = operatorImageTag()): string {
  if (!TAG_PATTERN.test(tag)) {
    throw new Error(`image tag "${tag}" is not a valid OCI tag: letters, digits, _ . - (at most 128, not first . -)`);
  }
  return `${OPERATOR_IMAGE_REPOSITORY}:${tag}`;
}

/** The part of package-lock.json (lockfileVersion 2 or 3) that says where each package is and why. */
export interface PackageLock {
  lockfileVersion: number;
  packages: Record<string, { dev?: boolean; optional?: boolean; link?: boolean }>;
}

/**
 * The node_modules directories of the production dependencies (`dependencies` and what they need, transitively),
 * relative to the repository: npm marks every package only devDependencies need with `dev: true`.
 */
export function productionPackageDirs(lock: PackageLock): string[] {
  if (lock.lockfileVersion < 2 || !lock.packages) {
    throw new Error(
      `package-lock.json has lockfileVersion ${lock.lockfileVersion}: run npm install with npm 7 or later`,
    );
  }
  return Object.entries(lock.packages)
    .filter(([path, entry]) => path.startsWith('node_modules/') && !entry.dev && !entry.link)
    .map(([path]) => path)
    .sort();
}

const LICENSE_FILE = /^(licen[cs]e|notice|copying)([.-].*)?$/i;

/** The prebuilt addons a package ships for each platform: only linux-x64's can load here. */
const OTHER_PLATFORM_PREBUILD = /(^|\/)prebuilds\/(?!linux-x64\/)[^/]+\//;

/**
 * Whether a file of a dependency is needed to run it: type declarations, source maps, documentation and the tests
 * some packages ship (pg-protocol's) are not (they are most of @kubernetes/client-node's size), nor addons prebuilt
 * for other platforms; license files are.
 */
export function isRuntimeDependencyFile(path: string): boolean {
  const name = posix.basename(path);
  if (LICENSE_FILE.test(name)) return true;
  return (
    !/\.(d\.[mc]?ts|map|md|markdown)$/i.test(name) &&
    !/\.test\.[mc]?[jt]s$/.test(name) &&
    !OTHER_PLATFORM_PREBUILD.test(path)
  );
}

/** Whether a file of the app's source tree belongs in the image: everything but tests. */
export function isAppSourceFile(path: string): boolean {
  return !/\.test\.ts$/.test(path);
}

/** A file of the repository: its path relative to the repository root, with slashes. */
export interface AppFile {
  path: string;
  mode: number;
  /** A symbolic link's target, as is. */
  target?: string;
}

/** The account files of a distroless-like image: tools that look the user up find it. */
const ACCOUNTS: ImageEntry[] = [
  {
    type: 'file',
    path: '/etc/passwd',
    mode: 0o644,
    content: Buffer.from('root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/tmp:/sbin/nologin\n'),
  },
  { type: 'file', path: '/etc/group', mode: 0o644, content: Buffer.from('root:x:0:\nnonroot:x:65532:\n') },
];

/**
 * The operator image from its parts: the Node binary at /usr/local/bin/node with the host libraries it links
 * (`runtime`), kine at /usr/local/bin/kine, and the app's files under /app. It runs `node /app/bin/kamaji.js manager` as 65532 with HOME=/tmp
 * (the one writable place: the chart mounts an emptyDir there; Node itself writes nothing at start-up).
 */
export function operatorImageFromParts(options: {
  reference: string;
  nodeBinary: string;
  /** kine is static (CGO off): it needs no library of its own. */
  kineBinary: string;
  runtime: readonly ImageEntry[];
  repoRoot: string;
  appFiles: readonly AppFile[];
}): ImageSpec {
  const app = options.appFiles.map(
    (file): ImageEntry =>
      file.target === undefined
        ? {
            type: 'host-file',
            path: posix.join(APP_DIR, file.path),
            // Modes as on any checkout: executable or not, never writable but by root.
            mode: file.mode & 0o111 ? 0o755 : 0o644,
            source: join(options.repoRoot, ...file.path.split('/')),
          }
        : { type: 'symlink', path: posix.join(APP_DIR, file.path), target: file.target },
  );
  return {
    reference: options.reference,
    entrypoint: [NODE_PATH, `${APP_DIR}/bin/kamaji.js`],
    cmd: ['manager'],
    user: OPERATOR_USER,
    workingDir: APP_DIR,
    env: ['HOME=/tmp', 'NODE_ENV=production', `KAMAJI_KINE_BINARY=${KINE_PATH}`],
    entries: [
      { type: 'host-file', path: NODE_PATH, mode: 0o755, source: options.nodeBinary },
      { type: 'host-file', path: KINE_PATH, mode: 0o755, source: options.kineBinary },
      ...options.runtime,
      ...ACCOUNTS,
      ...app,
    ],
  };
}

/** Every file under `dir` (relative to `root`) that `keep` accepts, not descending into nested node_modules. */
async function listFiles(root: string, dir: string, keep: (path: string) => boolean): Promise<AppFile[]> {
  const files: AppFile[] = [];
  for (const entry of await readdir(join(root, dir), { withFileTypes: true })) {
    const path = posix.join(dir, entry.name);
    if (entry.isDirectory()) {
      if (entry.name !== 'node_modules') files.push(...(await listFiles(root, path, keep)));
    } else if (keep(path)) {
      const full = join(root, path);
      const info = await lstat(full);
      if (info.isSymbolicLink()) files.push({ path, mode: 0o777, target: await readlink(full) });
      else if (info.isFile()) files.push({ path, mode: info.mode });
    }
  }
  return files;
}

/** The app's files in the repository: bin/, src/ without tests, package.json, license files, production deps. */
export async function appFiles(repoRoot = REPO_ROOT): Promise<AppFile[]> {
  const lock = JSON.parse(await readFile(join(repoRoot, 'package-lock.json'), 'utf8')) as PackageLock;
  const files: AppFile[] = [{ path: 'package.json', mode: 0o644 }];
  for (const name of (await readdir(repoRoot)).filter((name) => LICENSE_FILE.test(name))) {
    files.push({ path: name, mode: 0o644 });
  }
  files.push(...(await listFiles(repoRoot, 'bin', () => true)), ...(await listFiles(repoRoot, 'src', isAppSourceFile)));
  for (const dir of productionPackageDirs(lock)) {
    const installed = await lstat(join(repoRoot, dir)).then(
      (info) => info.isDirectory(),
      () => false,
    );
    if (!installed) {
      if (lock.packages[dir]?.optional) continue; // another platform's build of an optional package
      throw new Error(`${dir} is in package-lock.json but not installed: run npm ci in ${repoRoot}`);
    }
    files.push(...(await listFiles(repoRoot, dir, isRuntimeDependencyFile)));
  }
  return files;
}

/**
 * The Node binary the project runs on: the `node` devDependency's (the Node 24 the repository pins), resolved to
 * the file itself.
 */
export async function projectNodeBinary(repoRoot = REPO_ROOT): Promise<string> {
  const path = join(repoRoot, 'node_modules', 'node', 'bin', 'node');
  return realpath(path).catch(() => {
    throw new Error(
      `${path} is missing: the image takes Node from the "node" devDependency; run npm ci in ${repoRoot}`,
    );
  });
}

/** The image of the operator: Node, the libraries it links from this host, the app and its production deps. */
export async function operatorImageSpec(reference = operatorImageReference()): Promise<ImageSpec> {
  const nodeBinary = await projectNodeBinary();
  const { stdout } = await runCommand('ldd', [nodeBinary]);
  return operatorImageFromParts({
    reference,
    nodeBinary,
    kineBinary: (await ensureComponent('kine')).path,
    runtime: await hostEntries(parseLddPaths(stdout)),
    repoRoot: REPO_ROOT,
    appFiles: await appFiles(),
  });
}

/**
 * The operator image, from the machine's image cache when nothing changed. It is built under the default reference
 * and named by `tag` afterwards: a tag is not part of the blobs, so every tag shares one build.
 */
export async function operatorImageBuild(): Promise<ImageBuild> {
  return cachedImage(await operatorImageSpec());
}

export function withReference(image: OciImage, reference: string): OciImage {
  return { ...image, reference };
}

/**
 * Builds the operator image (cached by content) and pushes it to the local cluster's registry under `tag`
 * (package.json's version by default). Returns the reference pushed. Another tag of the same build uploads no blob.
 */
export async function publishOperatorImage(
  layout: StateLayout,
  options: { tag?: string; report?: (line: string) => void } = {},
): Promise<string> {
  const reference = operatorImageReference(options.tag);
  const address = registryAddress(layout);
  // Checked first: with no instance there, the node address may well route somewhere else entirely.
  if ((await recordedPid(layout, REGISTRY_PROCESS)) === undefined) {
    throw new Error(
      `no registry runs for the local cluster of ${layout.root}: start it with kamaji up --state-dir=${layout.root}`,
    );
  }
  const started = Date.now();
  const build = await operatorImageBuild();
  options.report?.(`${reference}: ${build.digest} ready in ${elapsed(started)}`);
  if ((await registryManifestDigest(address, reference)) === build.digest) {
    options.report?.(`${reference}: already in the registry at ${address}`);
    return reference;
  }
  const pushing = Date.now();
  await pushImage(address, withReference(await build.load(), reference));
  options.report?.(`${reference}: pushed to ${address} in ${elapsed(pushing)}`);
  return reference;
}

const elapsed = (since: number) => `${((Date.now() - since) / 1000).toFixed(1)}s`;
