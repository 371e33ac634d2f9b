import { createHash } from 'node:crypto';
import { lstat, mkdir, readdir, readFile, readlink, stat, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { KUBERNETES_VERSION } from '../toolchain/versions.ts';
import { runCommand } from './command.ts';
import {
  COREDNS_IMAGE,
  ETCD_IMAGE,
  HTTP_ECHO_IMAGE,
  KONNECTIVITY_AGENT_IMAGE,
  KONNECTIVITY_SERVER_IMAGE,
  KUBE_PROXY_IMAGE,
  kubernetesImage,
  PAUSE_IMAGE,
} from './image-references.ts';
import { binaryImage, buildImage, type ImageEntry, type ImageSpec, importedImages, importImages } from './images.ts';
import { pushImage, registryAddress, registryManifestDigest } from './registry.ts';
import type { StateLayout } from './state.ts';

/**
 * The iptables userland of the kube-proxy image: Debian's xtables-nft-multi, the nf_tables backend. The backend
 * must be the one every other writer of rules on the node uses, or two rule sets would apply side by side in the
 * same netns without seeing each other: the host's `iptables` (Debian's default alternative, the nft one) is what
 * the CNI portmap plugin and kube-proxy as a node process call, so the image calls the same. Each name kube-proxy
 * probes (`iptables`, `-save`, `-restore`, and the ip6tables ones) links straight to the multi binary, with no
 * /etc/alternatives indirection.
 */
export const XTABLES_MULTI = '/usr/sbin/xtables-nft-multi';
export const XTABLES_EXTENSIONS_DIR = '/usr/lib/x86_64-linux-gnu/xtables';
export const IPTABLES_COMMANDS = ['iptables', 'ip6tables'].flatMap((base) =>
  ['', '-save', '-restore'].flatMap((suffix) => [`${base}${suffix}`, `${base}-nft${suffix}`]),
);
/** getprotobyname (`-p tcp`) and ebtables' ethertype names. */
const IPTABLES_ETC_FILES = ['/etc/protocols', '/etc/ethertypes'];

/** The absolute paths `ldd` names, the dynamic loader among them, for one or several files (vdso left out). */
export function parseLddPaths(output: string): string[] {
  const paths = new Set<string>();
  for (const line of output.split('\n')) {
    const match = /^\s+(?:\S+ => )?(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (match?.[1]) paths.add(match[1]);
  }
  return [...paths].sort();
}

/**
 * The image members that reproduce host paths as the host has them: every symbolic link met on the way (e.g.
 * /lib -> usr/lib on a merged-/usr system, /lib64/ld-linux-x86-64.so.2 -> /lib/...) and the file it ends at.
 */
export async function hostEntries(paths: readonly string[]): Promise<ImageEntry[]> {
  const entries = new Map<string, ImageEntry>();
  const follow = async (path: string, hops = 0): Promise<void> => {
    if (hops > 40) throw new Error(`too many symbolic links resolving ${path}`);
    const parts = path.split('/').filter(Boolean);
    let current = '';
    for (const [index, part] of parts.entries()) {
      const next = `${current}/${part}`;
      const info = await lstat(next);
      if (info.isSymbolicLink()) {
        const target = await readlink(next);
        entries.set(next, { type: 'symlink', path: next, target });
        const rest = parts.slice(index + 1);
        return follow(posix.join(posix.resolve(current || '/', target), ...rest), hops + 1);
      }
      if (index === parts.length - 1) {
        if (!info.isFile()) throw new Error(`${next}: not a regular file`);
        entries.set(next, { type: 'host-file', path: next, mode: info.mode & 0o7777, source: next });
      }
      current = next;
    }
  };
  for (const path of paths) await follow(path);
  return [...entries.values()];
}

/** A working iptables (nf_tables backend) from this host's Debian files: binary, extensions, libraries, /etc. */
export async function iptablesEntries(): Promise<ImageEntry[]> {
  const extensions = (await readdir(XTABLES_EXTENSIONS_DIR)).sort().map((name) => `${XTABLES_EXTENSIONS_DIR}/${name}`);
  const { stdout } = await runCommand('ldd', [XTABLES_MULTI, ...extensions]);
  const links: ImageEntry[] = IPTABLES_COMMANDS.map((name) => ({
    type: 'symlink',
    path: `/usr/sbin/${name}`,
    target: posix.basename(XTABLES_MULTI),
  }));
  return [
    ...(await hostEntries([XTABLES_MULTI, ...extensions, ...parseLddPaths(stdout), ...IPTABLES_ETC_FILES])),
    ...links,
    // iptables-legacy locks /run/xtables.lock; kube-proxy writes its rules files under /tmp.
    { type: 'directory', path: '/run', mode: 0o755 },
  ];
}

/** kube-proxy with the iptables it calls. */
export async function kubeProxyImage(kubeProxyPath: string): Promise<ImageSpec> {
  const image = binaryImage(KUBE_PROXY_IMAGE, kubeProxyPath, 'kube-proxy');
  return { ...image, entries: [...image.entries, ...(await iptablesEntries())] };
}

/** The toolchain components the cluster images are made of. */
export const IMAGE_COMPONENTS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kube-proxy',
  'etcd',
  'coredns',
  'konnectivity-server',
  'konnectivity-agent',
] as const;

export type ImageComponent = (typeof IMAGE_COMPONENTS)[number];

/** Every image of the local cluster, from the toolchain's binaries and our own programs. */
export async function clusterImageSpecs(
  binaries: Readonly<Record<ImageComponent, string>> & { pause: string; httpEcho: string },
): Promise<ImageSpec[]> {
  return [
    ...(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const).map((name) =>
      binaryImage(kubernetesImage(name, KUBERNETES_VERSION), binaries[name], name),
    ),
    binaryImage(ETCD_IMAGE, binaries.etcd, 'etcd'),
    binaryImage(PAUSE_IMAGE, binaries.pause, 'pause'),
    await kubeProxyImage(binaries['kube-proxy']),
    // Upstream's image keeps the binary at /coredns; kubeadm's Deployment gives only args (`-conf ...`).
    { reference: COREDNS_IMAGE, entrypoint: ['/coredns'], entries: [hostFile('/coredns', binaries.coredns)] },
    konnectivityImage(KONNECTIVITY_SERVER_IMAGE, binaries['konnectivity-server'], 'proxy-server'),
    konnectivityImage(KONNECTIVITY_AGENT_IMAGE, binaries['konnectivity-agent'], 'proxy-agent'),
    binaryImage(HTTP_ECHO_IMAGE, binaries.httpEcho, 'http-echo'),
  ];
}

/**
 * Upstream's names: our manifests run `proxy-server`/`proxy-agent` by name (PATH), upstream Kamaji's run
 * `/proxy-server`/`/proxy-agent` (where upstream's images keep them): both work.
 */
function konnectivityImage(reference: string, binaryPath: string, name: string): ImageSpec {
  const image = binaryImage(reference, binaryPath, name);
  return {
    ...image,
    entries: [...image.entries, { type: 'symlink', path: `/${name}`, target: `usr/local/bin/${name}` }],
  };
}

const hostFile = (path: string, source: string): ImageEntry => ({ type: 'host-file', path, mode: 0o755, source });

/** The images kubeadm's static pods and containerd's sandboxes use: imported, so the node never waits on a pull. */
export const NODE_IMAGES: readonly string[] = [
  ...(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const).map((name) =>
    kubernetesImage(name, KUBERNETES_VERSION),
  ),
  ETCD_IMAGE,
  PAUSE_IMAGE,
];

/**
 * What an image is made of, cheaply: the spec with each host file's size, mtime and mode in place of its content.
 * The same key means the same image (the archives are deterministic), so it need not be built to know its digest.
 */
export async function imageSourceKey(spec: ImageSpec): Promise<string> {
  const entries = await Promise.all(
    spec.entries.map(async (entry) => {
      if (entry.type !== 'host-file') return entry.type === 'file' ? { ...entry, content: sha(entry.content) } : entry;
      const info = await stat(entry.source);
      return { ...entry, size: info.size, mtime: info.mtimeMs, sourceMode: info.mode, inode: info.ino };
    }),
  );
  return sha(Buffer.from(JSON.stringify({ reference: spec.reference, entrypoint: spec.entrypoint, entries })));
}

const sha = (content: Buffer): string => createHash('sha256').update(content).digest('hex');

/** One small file per image (parallel runs never write the same one): its source key and manifest digest. */
function digestRecordFile(layout: StateLayout, reference: string): string {
  return join(layout.dirs.images, `${reference.replace(/[^A-Za-z0-9._-]/g, '_')}.json`);
}

export interface PublishedImages {
  built: string[];
  imported: string[];
  pushed: string[];
}

/**
 * Puts each image in the instance's registry and, with `importInto` true, in the node's containerd too. An image is
 * built only when a destination lacks it, judged by the digest recorded for the same sources; a fresh state dir
 * or changed sources build it again.
 */
export async function publishImages(
  layout: StateLayout,
  specs: readonly ImageSpec[],
  options: { importIntoContainerd: boolean },
): Promise<PublishedImages> {
  const address = registryAddress(layout);
  const present = options.importIntoContainerd ? await importedImages(layout) : new Map<string, string>();
  await mkdir(layout.dirs.images, { recursive: true });
  const result: PublishedImages = { built: [], imported: [], pushed: [] };
  await Promise.all(
    specs.map(async (spec) => {
      const key = await imageSourceKey(spec);
      const file = digestRecordFile(layout, spec.reference);
      const record = await readFile(file, 'utf8').then(
        (text) => JSON.parse(text) as { key: string; digest: string },
        () => undefined,
      );
      const digest = record?.key === key ? record.digest : undefined;
      if (
        digest !== undefined &&
        (!options.importIntoContainerd || present.get(spec.reference) === digest) &&
        (await registryManifestDigest(address, spec.reference)) === digest
      ) {
        return;
      }
      const image = await buildImage(spec);
      result.built.push(spec.reference);
      if (options.importIntoContainerd) result.imported.push(...(await importImages(layout, [image], present)));
      if (await pushImage(address, image)) result.pushed.push(spec.reference);
      await writeFile(file, JSON.stringify({ key, digest: image.manifest.digest }));
    }),
  );
  return result;
}
