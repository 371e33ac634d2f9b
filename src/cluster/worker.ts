import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { accessFromKubeconfig } from '../controller/cluster-access.ts';
import { KubeClient } from '../controller/kube-client.ts';
import type { Supervisor } from '../process/supervisor.ts';
import { withLock } from '../toolchain/cache.ts';
import { waitFor } from '../util/wait.ts';
import { runCommand } from './command.ts';
import { cniConflist, startContainerd, stopContainerd } from './containerd.ts';
import { formatJoinCommand, type JoinCommand } from './join.ts';
import { runKubeadmWithKubelet } from './kubeadm.ts';
import { restoreHostSysctls, startKubelet } from './kubelet.ts';
import { ensureNodeBox, type NodeBox, removeNodeBox } from './node-box.ts';
import { readNode, waitForNodeReady } from './nodes.ts';
import { recordedPid, stopRecordedProcess } from './pid-files.ts';
import { registryAddress, registryMirror } from './registry.ts';
import { boxPath, MAX_WORKERS, type StateLayout, workerLayout, workersDir } from './state.ts';
import { ensureWorkerNetwork, isolateWorkersFromAdminPods, podRoutes, syncPodRoutes } from './worker-network.ts';

/**
 * A local worker: a node box of its own (network namespace on the admin node's bridge, mount namespace, cgroup
 * root, containerd, kubelet) that joins one tenant with the real `kubeadm join`, as a customer's machine would.
 * Its processes are supervised by a worker owner process (`kamaji worker run`), one per worker.
 */
export interface WorkerRecord {
  name: string;
  namespace: string;
  tenant: string;
  /** Its node address is the node subnet's .64 + index. */
  index: number;
  /** The tenant's ranges, from its spec when the worker was added. */
  serviceCidr: string;
  clusterPodCidrs: string[];
  /** The range the tenant's controller-manager allocated to the Node, once it has. */
  podCidr?: string;
  /** Set once the Node was Ready in the tenant. */
  readyAt?: string;
}

/** The worker owner's pid file name; the other processes are the node box's. */
export const WORKER_OWNER_PROCESS = 'owner';
export const WORKER_PROCESSES = ['mount-holder', 'containerd', 'kubeadm-join', 'kubelet'] as const;

const NAME_PATTERN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const RECORD = 'worker.json';
const POD_CIDR_TIMEOUT_MS = 60_000;
const NODE_READY_TIMEOUT_MS = 120_000;

/** A worker's (or an admin node's) name is its Node's name and its directory's: a DNS label. */
export function validateWorkerName(name: string, what = 'worker'): string | undefined {
  if (name.length > 63 || !NAME_PATTERN.test(name)) {
    return `${what} name "${name}" must be a DNS label: lower-case letters, digits and '-', at most 63 characters`;
  }
  return undefined;
}

/**
 * The records of the boxes joined to an instance (workers, admin nodes): `<dir>/<name>/<file>`, one JSON object each,
 * written whole and renamed (an `add` reads a record while the box's owner writes it).
 */
export function boxRecords<T extends { name: string; index: number }>(dir: string, file: string) {
  const path = (name: string) => join(dir, name, file);
  const read = async (name: string): Promise<T | undefined> => {
    const text = await readFile(path(name), 'utf8').catch(() => undefined);
    return text === undefined ? undefined : (JSON.parse(text) as T);
  };
  return {
    read,
    async write(record: T): Promise<void> {
      await mkdir(join(dir, record.name), { recursive: true });
      await writeFile(`${path(record.name)}.tmp`, `${JSON.stringify(record, null, 2)}\n`);
      await rename(`${path(record.name)}.tmp`, path(record.name));
    },
    /** Every record, by index. */
    async list(): Promise<T[]> {
      const names = await readdir(dir).catch(() => [] as string[]);
      const records = await Promise.all(names.map(read));
      return records.filter((record) => record !== undefined).sort((a, b) => a.index - b.index);
    },
  };
}

const workerRecords = (admin: StateLayout) => boxRecords<WorkerRecord>(workersDir(admin), RECORD);

export function readWorker(admin: StateLayout, name: string): Promise<WorkerRecord | undefined> {
  return workerRecords(admin).read(name);
}

export function writeWorker(admin: StateLayout, record: WorkerRecord): Promise<void> {
  return workerRecords(admin).write(record);
}

/** Every worker of the instance (of every tenant), by index. */
export function listWorkers(admin: StateLayout): Promise<WorkerRecord[]> {
  return workerRecords(admin).list();
}

/** The lowest free index and, unless given, the lowest free `<tenant>-worker-<n>` name. */
export function allocateWorker(
  existing: readonly Pick<WorkerRecord, 'name' | 'index'>[],
  tenant: string,
  name?: string,
): { name: string; index: number } {
  const names = new Set(existing.map((worker) => worker.name));
  const indexes = new Set(existing.map((worker) => worker.index));
  if (name !== undefined && names.has(name)) throw new Error(`a worker named ${name} exists already`);
  let chosen = name;
  for (let n = 1; chosen === undefined; n += 1)
    if (!names.has(`${tenant}-worker-${n}`)) chosen = `${tenant}-worker-${n}`;
  const index = [...Array(MAX_WORKERS).keys()].find((candidate) => !indexes.has(candidate));
  if (index === undefined) throw new Error(`this instance has ${MAX_WORKERS} workers, the most it can address`);
  return { name: chosen, index };
}

/** Claims a name and an address for a new worker, atomically against a concurrent `worker add`. */
export async function claimWorker(
  admin: StateLayout,
  request: Omit<WorkerRecord, 'name' | 'index'> & { name?: string },
): Promise<WorkerRecord> {
  return withLock(join(workersDir(admin), '.lock'), async () => {
    const { name: requested, ...rest } = request;
    const record = { ...rest, ...allocateWorker(await listWorkers(admin), request.tenant, requested) };
    await writeWorker(admin, record);
    return record;
  });
}

/** The kubelet settings a machine like this one needs, given to `kubeadm join --patches` as kubeadm intends. */
export function kubeletPatch(layout: StateLayout): Record<string, unknown> {
  return { cgroupRoot: layout.names.cgroupRoot, failCgroupV1: false, failSwapOn: false };
}

/** `kubeadm join` as printed by the tenant, plus what this machine needs: its runtime socket, name and patches. */
export function workerJoinArgs(command: JoinCommand, layout: StateLayout, patchesDir: string): string[] {
  return [
    ...formatJoinCommand(command).split(' ').slice(1),
    `--cri-socket=unix://${layout.files.containerdSocket}`,
    `--node-name=${layout.names.nodeName}`,
    // SystemVerification fails on cgroup v1 from 1.35; swap and systemd checks do not apply to a box.
    '--ignore-preflight-errors=all',
    `--patches=${patchesDir}`,
  ];
}

/** The worker joined before: the kubelet's TLS-bootstrapped kubeconfig is there. */
function joined(layout: StateLayout): boolean {
  return existsSync(boxPath(layout, '/etc/kubernetes', 'kubelet.conf'));
}

export interface JoinDependencies {
  binaries: { kubeadm: string; kubelet: string };
  /** A new join command (a fresh bootstrap token) for the cluster the box joins. */
  joinCommand: () => Promise<JoinCommand>;
}

export interface WorkerDependencies extends JoinDependencies {
  /** The tenant's admin kubeconfig, usable from the host. */
  tenantKubeconfig: () => Promise<string>;
}

/**
 * `kubeadm join` with the kubelet, once per box (a tenant's worker or an admin node); a box that joined before only
 * gets its kubelet started again.
 */
export async function joinOrResume(
  box: NodeBox,
  supervisor: Supervisor,
  deps: JoinDependencies,
  step: (what: string) => void,
): Promise<void> {
  const { layout } = box;
  if (!joined(layout)) {
    const patches = join(layout.dirs.config, 'patches');
    await mkdir(patches, { recursive: true });
    await writeFile(join(patches, 'kubeletconfiguration+merge.json'), JSON.stringify(kubeletPatch(layout)));
    const command = await deps.joinCommand();
    step(`joining with: ${formatJoinCommand({ ...command, token: '<token>' })}`);
    await runKubeadmWithKubelet(box, supervisor, deps.binaries, {
      name: 'kubeadm-join',
      args: workerJoinArgs(command, layout, patches),
    });
    step('kubeadm join done');
  } else if ((await recordedPid(layout, 'kubelet')) === undefined) {
    await startKubelet(box, supervisor, deps.binaries.kubelet);
    step('kubelet started (joined before)');
  }
}

/**
 * Brings a worker up, or completes one that is partly up (re-runnable): box, containerd, `kubeadm join` with the
 * kubelet (once), the pod subnet the tenant allocates, pod routes among the tenant's workers, Node Ready.
 */
export async function startWorker(
  admin: StateLayout,
  name: string,
  supervisor: Supervisor,
  deps: WorkerDependencies,
  report: (line: string) => void,
): Promise<WorkerRecord> {
  const started = Date.now();
  const step = (what: string) => report(`${what} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  let record = await readWorker(admin, name);
  if (!record) throw new Error(`no worker named ${name} in ${admin.root}`);
  const layout = workerLayout(admin, record);
  const box = await ensureNodeBox(layout, supervisor);
  await ensureWorkerNetwork(layout, record.clusterPodCidrs);
  await isolateWorkersFromAdminPods(admin);
  step(`node box ${layout.names.netns} ready, node address ${layout.network.nodeAddress}`);
  // Images come from the admin node's registry, as a real node pulls them (nothing is imported into a worker).
  if ((await recordedPid(layout, 'containerd')) === undefined) {
    await startContainerd(box, supervisor, { mirror: registryMirror(admin) });
  }
  step(`containerd answering, pulling through the registry at ${registryAddress(admin)}`);
  await joinOrResume(box, supervisor, deps, step);
  const tenant = new KubeClient(accessFromKubeconfig(await deps.tenantKubeconfig(), '/', 'tenant admin.conf'));
  try {
    const podCidr = await waitFor(async () => (await readNode(tenant, name))?.spec?.podCIDR, {
      timeoutMs: POD_CIDR_TIMEOUT_MS,
      description: `the tenant to allocate Node ${name} a pod range (its controller-manager runs with --allocate-node-cidrs)`,
    });
    if (record.podCidr !== podCidr || !existsSync(layout.files.cniConflist)) {
      const withPods = workerLayout(admin, { ...record, podCidr });
      await writeFile(layout.files.cniConflist, cniConflist(withPods));
      record = { ...record, podCidr };
      await writeWorker(admin, record);
    }
    await syncTenantRoutes(admin, record.namespace, record.tenant);
    step(`pod range ${podCidr}, routes to the tenant's other workers`);
    await waitForNodeReady(tenant, name, NODE_READY_TIMEOUT_MS);
    step(`Node ${name} Ready in ${record.namespace}/${record.tenant}`);
  } finally {
    tenant.close();
  }
  record = { ...record, readyAt: record.readyAt ?? new Date().toISOString() };
  await writeWorker(admin, record);
  return record;
}

/**
 * What an administrator does before taking a machine away: `kubectl drain` (evicting its pods through the eviction
 * API, so PodDisruptionBudgets hold; DaemonSets aside) and `kubectl delete node`. Failures are reported, not thrown:
 * the machine goes either way.
 */
export async function drainAndDeleteNode(
  name: string,
  options: { kubectl: string; kubeconfig: string; report: (line: string) => void },
): Promise<void> {
  const kubectl = (...args: string[]) =>
    runCommand(options.kubectl, [`--kubeconfig=${options.kubeconfig}`, ...args], { allowFailure: true });
  const drained = await kubectl(
    'drain',
    name,
    '--ignore-daemonsets',
    '--delete-emptydir-data',
    '--force',
    '--timeout=60s',
  );
  options.report(drained.code === 0 ? `drained ${name}` : `drain: ${drained.stderr.trim()}`);
  const deleted = await kubectl('delete', 'node', name, '--ignore-not-found', '--wait=true');
  options.report(deleted.code === 0 ? `Node ${name} deleted` : `delete node: ${deleted.stderr.trim()}`);
}

/** Every worker of one tenant gets a route to each other's pod range (and none to removed ones). */
export async function syncTenantRoutes(admin: StateLayout, namespace: string, tenant: string): Promise<void> {
  const workers = (await listWorkers(admin)).filter((w) => w.namespace === namespace && w.tenant === tenant);
  const peers = workers.map((worker) => ({
    name: worker.name,
    address: workerLayout(admin, worker).network.nodeAddress,
    podCidr: worker.podCidr,
  }));
  for (const worker of workers) {
    const layout = workerLayout(admin, worker);
    if (existsSync(`/var/run/netns/${layout.names.netns}`)) await syncPodRoutes(layout, podRoutes(worker.name, peers));
  }
}

/**
 * Stops a worker's processes and removes its box (network namespace, mounts, cgroups), from any state and from any
 * process; its Node stays in the tenant (see `removeWorker`) and its directory stays unless `purge`.
 */
export async function stopWorker(admin: StateLayout, record: WorkerRecord, options: { purge: boolean }) {
  await stopJoinedBox(workerLayout(admin, record), [], options);
}

/**
 * Stops a joined box's owner, `nodeProcesses` (those besides kubeadm and the kubelet), kubeadm and the kubelet,
 * containerd with its tasks, then removes the box; with `purge`, its directory too.
 */
export async function stopJoinedBox(
  layout: StateLayout,
  nodeProcesses: readonly string[],
  options: { purge: boolean },
) {
  await stopRecordedProcess(layout, WORKER_OWNER_PROCESS);
  for (const name of [...nodeProcesses, 'kubelet', 'kubeadm-join']) await stopRecordedProcess(layout, name);
  await restoreHostSysctls(layout);
  await stopContainerd(layout);
  await removeNodeBox(layout);
  if (options.purge) await rm(layout.root, { recursive: true, force: true });
}

/**
 * Takes a worker out of its tenant as an administrator would: drain (evicting its pods, DaemonSets aside), delete
 * the Node, then stop everything and remove its directory and its peers' routes to it.
 */
export async function removeWorker(
  admin: StateLayout,
  record: WorkerRecord,
  options: { kubectl: string; tenantKubeconfig?: string; report: (line: string) => void },
): Promise<void> {
  if (options.tenantKubeconfig) {
    const kubeconfig = join(workersDir(admin), record.name, 'tenant-admin.conf');
    await writeFile(kubeconfig, options.tenantKubeconfig, { mode: 0o600 });
    await drainAndDeleteNode(record.name, { kubectl: options.kubectl, kubeconfig, report: options.report });
  }
  await stopWorker(admin, record, { purge: true });
  await syncTenantRoutes(admin, record.namespace, record.tenant);
}
