import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadClusterAccess } from '../controller/cluster-access.ts';
import { KubeClient } from '../controller/kube-client.ts';
import { startDetached } from '../process/detached.ts';
import type { Supervisor } from '../process/supervisor.ts';
import { withLock } from '../toolchain/cache.ts';
import { waitFor } from '../util/wait.ts';
import { cniConflist, startContainerd } from './containerd.ts';
import type { JoinCommand } from './join.ts';
import { KAMAJI_BIN } from './kamaji-bin.ts';
import { kubeProxyConfig } from './kube-proxy.ts';
import { adminKubeconfigPath } from './kubeadm.ts';
import { ensureNodeBox, type NodeBox, netnsPath, startInBox } from './node-box.ts';
import { readNode, waitForNodeReady } from './nodes.ts';
import { recordedPid, recordProcess } from './pid-files.ts';
import { registryAddress, registryMirror } from './registry.ts';
import {
  ADMIN_NODE_ADDRESS_BASE,
  adminNodeLayout,
  adminNodesDir,
  logFile,
  MAX_ADMIN_NODES,
  type StateLayout,
} from './state.ts';
import { boxRecords, drainAndDeleteNode, joinOrResume, stopJoinedBox, WORKER_OWNER_PROCESS } from './worker.ts';
import { ensureWorkerNetwork, isolateWorkersFromAdminPods, podRoutes, syncPodRoutes } from './worker-network.ts';

/**
 * The other nodes of the local admin cluster (`kamaji node add`): each a node box on the first admin node's bridge
 * that joins the admin cluster with the real `kubeadm join`, as a worker of it, so that tenant control planes can
 * spread over several machines and survive one of them going away. Its processes are supervised by an owner
 * process (`kamaji node run`), one per node, as for a tenant's workers. See docs/admin-nodes.md.
 */
export interface AdminNodeRecord {
  name: string;
  /** Its node address is the node subnet's .3 + index. */
  index: number;
  /** The range the admin cluster's controller-manager allocated to the Node, once it has. */
  podCidr?: string;
  /** Set once the Node was Ready. */
  readyAt?: string;
}

/** Processes in an admin node's box besides its owner (kube-proxy runs as a node process, as on the first node). */
export const ADMIN_NODE_PROCESSES = ['mount-holder', 'containerd', 'kubeadm-join', 'kubelet', 'kube-proxy'] as const;

const RECORD = 'node.json';

/** What an admin node's owner runs with after `node bin/kamaji.js`. */
export function adminNodeOwnerArguments(admin: StateLayout, name: string): string[] {
  return ['node', 'run', name, `--state-dir=${admin.root}`];
}
const POD_CIDR_TIMEOUT_MS = 60_000;
const NODE_READY_TIMEOUT_MS = 120_000;

const records = (admin: StateLayout) => boxRecords<AdminNodeRecord>(adminNodesDir(admin), RECORD);

export function readAdminNode(admin: StateLayout, name: string): Promise<AdminNodeRecord | undefined> {
  return records(admin).read(name);
}

export function writeAdminNode(admin: StateLayout, record: AdminNodeRecord): Promise<void> {
  return records(admin).write(record);
}

/** The admin nodes added to the instance (the first one, made by `up`, aside), by index. */
export function listAdminNodes(admin: StateLayout): Promise<AdminNodeRecord[]> {
  return records(admin).list();
}

/**
 * The lowest free index and, unless given, the lowest free `<first node>-<n>` name from 2 (the first admin node is
 * the one). A name may not be the first node's.
 */
export function allocateAdminNode(
  existing: readonly Pick<AdminNodeRecord, 'name' | 'index'>[],
  firstNode: string,
  name?: string,
): { name: string; index: number } {
  const names = new Set([firstNode, ...existing.map((node) => node.name)]);
  const indexes = new Set(existing.map((node) => node.index));
  if (name !== undefined && names.has(name)) {
    throw new Error(
      `an admin node named ${name} exists already: choose another --name ("kamaji node list" shows them)`,
    );
  }
  let chosen = name;
  for (let n = 2; chosen === undefined; n += 1) if (!names.has(`${firstNode}-${n}`)) chosen = `${firstNode}-${n}`;
  const index = [...Array(MAX_ADMIN_NODES).keys()].find((candidate) => !indexes.has(candidate));
  if (index === undefined) {
    throw new Error(
      `this instance has ${MAX_ADMIN_NODES} added admin nodes, the most it can address (.${ADMIN_NODE_ADDRESS_BASE} up to the workers' range): remove one first`,
    );
  }
  return { name: chosen, index };
}

/** Claims a name and an address for a new admin node, atomically against a concurrent `node add`. */
export async function claimAdminNode(admin: StateLayout, name?: string): Promise<AdminNodeRecord> {
  return withLock(join(adminNodesDir(admin), '.lock'), async () => {
    const record = allocateAdminNode(await listAdminNodes(admin), admin.names.nodeName, name);
    await writeAdminNode(admin, record);
    return record;
  });
}

/** A client of the admin cluster from the host, with the first node's admin.conf. */
export function adminNodeClient(admin: StateLayout): KubeClient {
  return new KubeClient(loadClusterAccess(adminKubeconfigPath(admin)));
}

/** One admin node as the others route to it: its address and its pods' range. */
interface RoutedNode {
  name: string;
  address: string;
  podCidr?: string;
}

/** The first admin node and every added one, with their pod ranges (the first node's is fixed, see state.ts). */
async function routedNodes(admin: StateLayout): Promise<{ layout: StateLayout; peer: RoutedNode }[]> {
  const first = {
    layout: admin,
    peer: { name: admin.names.nodeName, address: admin.network.nodeAddress, podCidr: admin.network.nodePodSubnet },
  };
  const added = (await listAdminNodes(admin)).map((record) => {
    const layout = adminNodeLayout(admin, record);
    return { layout, peer: { name: record.name, address: layout.network.nodeAddress, podCidr: record.podCidr } };
  });
  return [first, ...added];
}

/**
 * Host-gw routing among admin nodes, as for a tenant's workers: each node's namespace gets a route to every other
 * node's pod range via that node's address, and none to removed ones.
 */
export async function syncAdminRoutes(admin: StateLayout): Promise<void> {
  const nodes = await routedNodes(admin);
  const peers = nodes.map((node) => node.peer);
  for (const { layout, peer } of nodes) {
    if (existsSync(netnsPath(layout))) await syncPodRoutes(layout, podRoutes(peer.name, peers));
  }
}

/** What an admin node's owner brings: binaries and a join command for the admin cluster. */
export interface AdminNodeDependencies {
  binaries: { kubeadm: string; kubelet: string; kubeProxy: string };
  joinCommand: () => Promise<JoinCommand>;
}

/**
 * kube-proxy in the node's box as on the first node: the same `system:kube-proxy` credentials (one identity for
 * all nodes' kube-proxies, as kubeadm's DaemonSet shares one ServiceAccount), its own Node name, the cluster's
 * pod range for deciding what to masquerade.
 */
async function startNodeKubeProxy(admin: StateLayout, box: NodeBox, supervisor: Supervisor, kubeProxy: string) {
  const { layout } = box;
  await mkdir(layout.dirs.config, { recursive: true });
  await writeFile(layout.files.kubeProxyKubeconfig, await readFile(admin.files.kubeProxyKubeconfig), { mode: 0o600 });
  const clusterWide = { ...layout, network: { ...layout.network, podSubnet: admin.network.podSubnet } };
  await writeFile(layout.files.kubeProxyConfig, kubeProxyConfig(clusterWide));
  return startInBox(box, supervisor, {
    name: 'kube-proxy',
    command: kubeProxy,
    args: [`--config=${layout.files.kubeProxyConfig}`],
  });
}

/**
 * Brings an added admin node up, or completes one that is partly up (re-runnable): box, containerd pulling through
 * the registry, `kubeadm join` with the kubelet (once), the pod range the admin cluster allocates, routes between
 * admin nodes, kube-proxy, the REJECT rule toward workers, Node Ready.
 */
export async function startAdminNodeBox(
  admin: StateLayout,
  name: string,
  supervisor: Supervisor,
  deps: AdminNodeDependencies,
  report: (line: string) => void,
): Promise<AdminNodeRecord> {
  const started = Date.now();
  const step = (what: string) => report(`${what} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  let record = await readAdminNode(admin, name);
  if (!record) throw new Error(`no admin node named ${name} in ${admin.root}: "kamaji node list" shows them`);
  const layout = adminNodeLayout(admin, record);
  const box = await ensureNodeBox(layout, supervisor);
  // Service addresses reachable from the node's own processes; pods leaving the admin pod range masqueraded.
  await ensureWorkerNetwork(layout, [admin.network.podSubnet]);
  // Its pods, like the first node's, may not open connections to tenant workers.
  await isolateWorkersFromAdminPods(admin, layout);
  step(`node box ${layout.names.netns} ready, node address ${layout.network.nodeAddress}`);
  if ((await recordedPid(layout, 'containerd')) === undefined) {
    await startContainerd(box, supervisor, { mirror: registryMirror(admin) });
  }
  step(`containerd answering, pulling through the registry at ${registryAddress(admin)}`);
  await joinOrResume(box, supervisor, deps, step);
  const client = adminNodeClient(admin);
  try {
    const podCidr = await waitFor(async () => (await readNode(client, name))?.spec?.podCIDR, {
      timeoutMs: POD_CIDR_TIMEOUT_MS,
      description: `the admin cluster to allocate Node ${name} a pod range (kubeadm's controller-manager runs with --allocate-node-cidrs)`,
    });
    if (record.podCidr !== podCidr || !existsSync(layout.files.cniConflist)) {
      await writeFile(layout.files.cniConflist, cniConflist(adminNodeLayout(admin, { ...record, podCidr })));
      record = { ...record, podCidr };
      await writeAdminNode(admin, record);
    }
    await syncAdminRoutes(admin);
    step(`pod range ${podCidr}, routes to and from the other admin nodes`);
    if ((await recordedPid(layout, 'kube-proxy')) === undefined) {
      await startNodeKubeProxy(admin, box, supervisor, deps.binaries.kubeProxy);
      step('kube-proxy started');
    }
    await waitForNodeReady(client, name, NODE_READY_TIMEOUT_MS);
    step(`Node ${name} Ready in the admin cluster`);
  } finally {
    client.close();
  }
  record = { ...record, readyAt: record.readyAt ?? new Date().toISOString() };
  await writeAdminNode(admin, record);
  return record;
}

/** Stops an added admin node's processes and removes its box; its Node stays (see `removeAdminNode`). */
export async function stopAdminNodeBox(admin: StateLayout, record: AdminNodeRecord, options: { purge: boolean }) {
  await stopJoinedBox(adminNodeLayout(admin, record), ['kube-proxy'], options);
}

/**
 * Starts the owner of every added admin node that has none (after `down`): each resumes its node (it joined before,
 * so it rejoins nothing) on its own, without holding up the caller; `kamaji node list` and `status` show them.
 */
export async function resumeAdminNodes(admin: StateLayout, report: (line: string) => void): Promise<void> {
  for (const record of await listAdminNodes(admin)) {
    const layout = adminNodeLayout(admin, record);
    if ((await recordedPid(layout, WORKER_OWNER_PROCESS)) !== undefined) continue;
    const { readyAt: _previous, ...resumed } = record;
    await writeAdminNode(admin, resumed);
    const log = logFile(layout, WORKER_OWNER_PROCESS);
    const owner = startDetached(process.execPath, [KAMAJI_BIN, ...adminNodeOwnerArguments(admin, record.name)], log);
    await recordProcess(layout, WORKER_OWNER_PROCESS, owner);
    report(`admin node ${record.name} resuming (owner pid ${owner}, log ${log})`);
  }
}

/** `kamaji down`: every added admin node stops, keeping its directory, so the next `up` starts it again. */
export async function stopAdminNodes(admin: StateLayout): Promise<void> {
  for (const record of await listAdminNodes(admin)) await stopAdminNodeBox(admin, record, { purge: false });
}

/**
 * Takes an admin node away as an administrator would: `kubectl drain` (evictions respect the tenants' disruption
 * budgets), delete the Node, then stop everything, remove its directory and the other nodes' routes to it.
 */
export async function removeAdminNode(
  admin: StateLayout,
  record: AdminNodeRecord,
  options: { kubectl: string; report: (line: string) => void },
): Promise<void> {
  if (existsSync(adminKubeconfigPath(admin))) {
    await drainAndDeleteNode(record.name, { ...options, kubeconfig: adminKubeconfigPath(admin) });
  } else {
    options.report(`not draining ${record.name}: no admin kubeconfig in ${admin.root}`);
  }
  await stopAdminNodeBox(admin, record, { purge: true });
  await syncAdminRoutes(admin);
}
