import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import type { SupervisedProcess, Supervisor } from '../process/supervisor.ts';
import { type NodeBox, startInBox } from './node-box.ts';
import { boxPath, type StateLayout } from './state.ts';

/** Written by kubeadm into /var/lib/kubelet (`kubelet-start` phase); a systemd unit would read them, here we do. */
const KUBELET_CONFIG = 'config.yaml';
const KUBEADM_FLAGS_ENV = 'kubeadm-flags.env';

/** The flags in kubeadm-flags.env: `KUBELET_KUBEADM_ARGS="--a=b --c=d"`. */
export function parseKubeadmFlags(envFile: string): string[] {
  const value = /^KUBELET_KUBEADM_ARGS="?([^"\n]*)"?\s*$/m.exec(envFile)?.[1] ?? '';
  return value.split(/\s+/).filter(Boolean);
}

/**
 * The command line kubeadm's systemd drop-in would give the kubelet, plus the node address: the bootstrap
 * kubeconfig (used by `kubeadm join`; `init` writes kubelet.conf directly) and the config kubeadm generated.
 */
export function kubeletArgs(kubeadmFlags: readonly string[], nodeAddress: string): string[] {
  return [
    '--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.conf',
    '--kubeconfig=/etc/kubernetes/kubelet.conf',
    `--config=/var/lib/kubelet/${KUBELET_CONFIG}`,
    ...kubeadmFlags,
    `--node-ip=${nodeAddress}`,
  ];
}

/** True once kubeadm has written what the kubelet needs to start. */
export function kubeletConfigured(layout: StateLayout): boolean {
  return [KUBELET_CONFIG, KUBEADM_FLAGS_ENV].every((name) => existsSync(boxPath(layout, '/var/lib/kubelet', name)));
}

/**
 * Machine-wide kernel settings the kubelet sets when it starts (its "kernel tunables"; the alternative,
 * protectKernelDefaults, refuses to start unless they are set already). No namespace isolates them.
 */
export const KUBELET_HOST_SYSCTLS = [
  'vm.overcommit_memory',
  'vm.panic_on_oom',
  'kernel.panic',
  'kernel.panic_on_oops',
  'kernel.keys.root_maxkeys',
  'kernel.keys.root_maxbytes',
] as const;

export function sysctlFile(name: string): string {
  return `/proc/sys/${name.replaceAll('.', '/')}`;
}

/** Records the host's values once (a later `up` must not record the kubelet's values as the host's). */
async function saveHostSysctls(layout: StateLayout): Promise<void> {
  if (existsSync(layout.files.hostSysctls)) return;
  const entries = await Promise.all(
    KUBELET_HOST_SYSCTLS.map(async (name) => [name, (await readFile(sysctlFile(name), 'utf8')).trim()]),
  );
  await writeFile(layout.files.hostSysctls, `${JSON.stringify(Object.fromEntries(entries), null, 2)}\n`);
}

/** Puts back the host's kernel settings as they were before this instance's first kubelet. */
export async function restoreHostSysctls(layout: StateLayout): Promise<void> {
  const saved = await readFile(layout.files.hostSysctls, 'utf8').catch(() => undefined);
  if (saved === undefined) return;
  for (const [name, value] of Object.entries(JSON.parse(saved) as Record<string, string>)) {
    await writeFile(sysctlFile(name), value);
  }
  await rm(layout.files.hostSysctls);
}

/**
 * inotify limits are per user and machine-wide: every kubelet, containerd, kube-apiserver and controller-manager of
 * every node box and tenant takes instances from root's `max_user_instances` (128 by default). An admin node, six
 * tenants and six workers need about 150 (measured: 22 the admin node, 13 a tenant, 8 a worker), and the kubelet that finds none left
 * never serves /healthz, so `kubeadm join` waits in vain. Raised to these floors (as kind's known issues advise),
 * never lowered, and not restored at `down`: another instance may be running on them.
 */
export const INOTIFY_FLOORS = {
  'fs.inotify.max_user_instances': 8192,
  'fs.inotify.max_user_watches': 524288,
} as const;

/** The values to write so that each setting is at least its floor (none when all are). */
export function raisedSettings(
  current: Readonly<Record<string, number>>,
  floors: Readonly<Record<string, number>>,
): [string, number][] {
  return Object.entries(floors).filter(([name, floor]) => (current[name] ?? 0) < floor);
}

async function raiseInotifyLimits(): Promise<void> {
  const current = Object.fromEntries(
    await Promise.all(
      Object.keys(INOTIFY_FLOORS).map(async (name) => [name, Number(await readFile(sysctlFile(name), 'utf8'))]),
    ),
  );
  for (const [name, value] of raisedSettings(current, INOTIFY_FLOORS)) await writeFile(sysctlFile(name), String(value));
}

/** Starts the kubelet inside the box with kubeadm's configuration. */
export async function startKubelet(box: NodeBox, supervisor: Supervisor, binary: string): Promise<SupervisedProcess> {
  await saveHostSysctls(box.layout);
  await raiseInotifyLimits();
  const flags = parseKubeadmFlags(await readFile(boxPath(box.layout, '/var/lib/kubelet', KUBEADM_FLAGS_ENV), 'utf8'));
  return startInBox(box, supervisor, {
    name: 'kubelet',
    command: binary,
    args: kubeletArgs(flags, box.layout.network.nodeAddress),
  });
}
