import { lstat, readdir, readlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { cacheRoot } from '../toolchain/cache.ts';
import { KUBERNETES_VERSION } from '../toolchain/versions.ts';
import { runCommand } from './command.ts';
import {
  COREDNS_IMAGE,
  ETCD_IMAGE,
  HTTP_ECHO_IMAGE,
  KINE_IMAGE,
  KONNECTIVITY_AGENT_IMAGE,
  KONNECTIVITY_SERVER_IMAGE,
  KUBE_PROXY_IMAGE,
  kubernetesImage,
  PAUSE_IMAGE,
} from './image-references.ts';
import { binaryImage, cachedImage, type ImageEntry, type ImageSpec, importedImages, importImages } from './images.ts';
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
  'kine',
] as const;

export type ImageComponent = (typeof IMAGE_COMPONENTS)[number];

/** Every image of the local cluster, from the toolchain's binaries and our own programs. */
export async function clusterImageSpecs(
  toolchainBinary: (component: ImageComponent) => string,
  own: { pause: string; httpEcho: string },
): Promise<ImageSpec[]> {
  return [
    ...(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const).map((name) =>
      binaryImage(kubernetesImage(name, KUBERNETES_VERSION), toolchainBinary(name), name),
    ),
    binaryImage(ETCD_IMAGE, toolchainBinary('etcd'), 'etcd'),
    binaryImage(PAUSE_IMAGE, own.pause, 'pause'),
    await kubeProxyImage(toolchainBinary('kube-proxy')),
    // Upstream's image keeps the binary at /coredns; kubeadm's Deployment gives only args (`-conf ...`).
    { reference: COREDNS_IMAGE, entrypoint: ['/coredns'], entries: [hostFile('/coredns', toolchainBinary('coredns'))] },
    konnectivityImage(KONNECTIVITY_SERVER_IMAGE, toolchainBinary('konnectivity-server'), 'proxy-server'),
    konnectivityImage(KONNECTIVITY_AGENT_IMAGE, toolchainBinary('konnectivity-agent'), 'proxy-agent'),
    // The tenant pod's kine container, for SQL DataStores.
    binaryImage(KINE_IMAGE, toolchainBinary('kine'), 'kine'),
    binaryImage(HTTP_ECHO_IMAGE, own.httpEcho, 'http-echo'),
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

export interface PublishedImages {
  /** The images `importNow` selects, imported into the node's containerd (those not there already). */
  imported: string[];
  /** Settles once every image is in the registry: the references pushed. */
  pushed: Promise<string[]>;
}

/**
 * Imports the images `importNow` selects into the node's containerd, then returns while every image is pushed
 * to the instance's registry (`pushed`). An image is built only when the machine's image cache lacks it, and
 * read from the cache only when a destination lacks it.
 */
export async function publishImages(
  layout: StateLayout,
  specs: readonly ImageSpec[],
  importNow: (reference: string) => boolean,
  cacheDir = cacheRoot(),
): Promise<PublishedImages> {
  const address = registryAddress(layout);
  const cached = (spec: ImageSpec) => cachedImage(spec, cacheDir);
  const nodeBuilds = await Promise.all(specs.filter((spec) => importNow(spec.reference)).map(cached));
  const present = await importedImages(layout);
  const missing = nodeBuilds.filter((build) => present.get(build.reference) !== build.digest);
  const imported = await importImages(layout, await Promise.all(missing.map((build) => build.load())), present);
  const pushed = (async () => {
    const others = await Promise.all(specs.filter((spec) => !importNow(spec.reference)).map(cached));
    const results = await Promise.all(
      [...nodeBuilds, ...others].map(async (build) => {
        if ((await registryManifestDigest(address, build.reference)) === build.digest) return [];
        return (await pushImage(address, await build.load())) ? [build.reference] : [];
      }),
    );
    return results.flat();
  })();
  pushed.catch(() => undefined);
  return { imported, pushed };
}
