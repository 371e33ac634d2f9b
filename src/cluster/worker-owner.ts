import { applyTenantControlPlaneDefaults } from '../api/v1alpha1/defaults.ts';
import { tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { hasStatus, resourcePath } from '../controller/kube-client.ts';
import { followLog, startDetached } from '../process/detached.ts';
import { isAlive, Supervisor } from '../process/supervisor.ts';
import { ensureComponents } from '../toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../toolchain/versions.ts';
import { createJoinCommand } from './join.ts';
import { KAMAJI_BIN } from './kamaji-bin.ts';
import { recordedPid, recordProcess } from './pid-files.ts';
import { logFile, type StateLayout, workerLayout } from './state.ts';
import { adminClient, tenantKubeconfig } from './status.ts';
import {
  claimWorker,
  readWorker,
  startWorker,
  WORKER_OWNER_PROCESS,
  type WorkerRecord,
  writeWorker,
} from './worker.ts';

/** What the worker owner runs with after `node bin/kamaji.js`. */
export function workerOwnerArguments(admin: StateLayout, name: string): string[] {
  return ['worker', 'run', name, `--state-dir=${admin.root}`];
}

/** `vX.Y.Z` compared numerically; NaN parts compare as 0. */
export function compareVersions(a: string, b: string): number {
  const parts = (version: string) => version.replace(/^v/, '').split('.').map(Number);
  const [left, right] = [parts(a), parts(b)];
  for (let i = 0; i < 3; i += 1) {
    const difference = (left[i] || 0) - (right[i] || 0);
    if (difference !== 0) return Math.sign(difference);
  }
  return 0;
}

/** Why a worker cannot join this tenant now, with what to do; undefined when it can. */
export function joinRefusal(tcp: TenantControlPlane, kubeletVersion: string): string | undefined {
  const key = `TenantControlPlane ${tcp.metadata.namespace}/${tcp.metadata.name}`;
  const status = tcp.status?.kubernetesResources?.version?.status;
  if (status !== 'Ready') {
    return `${key} is ${status ?? 'not provisioned yet'}, not Ready: a worker joins a Ready tenant ("kamaji status" shows why it is not)`;
  }
  const version = tcp.status?.kubernetesResources?.version?.version ?? tcp.spec.kubernetes.version;
  if (compareVersions(kubeletVersion, version) > 0) {
    return `${key} runs ${version}, older than the only kubelet here (${kubeletVersion}); a kubelet may not be newer than its API server: upgrade the tenant to ${kubeletVersion}`;
  }
  return undefined;
}

async function readTenant(admin: StateLayout, namespace: string, name: string): Promise<TenantControlPlane> {
  const client = adminClient(admin);
  try {
    return await client.request<TenantControlPlane>(
      'GET',
      resourcePath(tenantControlPlaneResource, { namespace, name }),
    );
  } catch (error) {
    if (!hasStatus(error, 404)) throw error;
    throw new Error(
      `TenantControlPlane ${namespace}/${name} not found: check the name and -n; "kamaji status --state-dir ${admin.root}" lists the tenants`,
    );
  } finally {
    client.close();
  }
}

/**
 * Adds a worker to a tenant: checks the tenant can take it, claims a name and an address, starts the worker's
 * owner process (which outlives this one) and follows its progress until the Node is Ready or the owner fails.
 */
export async function addWorker(
  admin: StateLayout,
  request: { namespace: string; tenant: string; name?: string },
  write: (text: string) => void,
): Promise<WorkerRecord> {
  const tcp = await readTenant(admin, request.namespace, request.tenant);
  const refusal = joinRefusal(tcp, KUBERNETES_VERSION);
  if (refusal) throw new Error(refusal);
  const network = applyTenantControlPlaneDefaults(tcp.spec).networkProfile;
  const record = await claimWorker(admin, {
    ...request,
    serviceCidr: network.serviceCidrs.join(','),
    clusterPodCidrs: network.podCidrs,
  });
  return launchWorkerOwner(admin, record, write);
}

/** Starts a worker's owner again (after `down`, or a crash of the owner): the worker rejoins nothing, it resumes. */
export async function restartWorker(admin: StateLayout, name: string, write: (text: string) => void) {
  const record = await readWorker(admin, name);
  if (!record) throw new Error(`no worker named ${name} in ${admin.root}`);
  return launchWorkerOwner(admin, record, write);
}

async function launchWorkerOwner(
  admin: StateLayout,
  claimed: WorkerRecord,
  write: (text: string) => void,
): Promise<WorkerRecord> {
  const { readyAt: _previous, ...record } = claimed;
  await writeWorker(admin, record);
  await launchOwner({
    layout: workerLayout(admin, record),
    args: workerOwnerArguments(admin, record.name),
    ready: async () => (await readWorker(admin, record.name))?.readyAt !== undefined,
    write,
    failure: `worker ${record.name} did not come up`,
    cleanup: `kamaji worker remove ${record.name}`,
  });
  return (await readWorker(admin, record.name)) ?? record;
}

/**
 * Starts a box's owner process (`node bin/kamaji.js <args>`, detached: it outlives this process) and relays its log
 * until `ready` says the box is up or the owner dies, which throws with the log's path and the command that cleans up.
 */
export async function launchOwner(options: {
  layout: StateLayout;
  args: readonly string[];
  ready: () => Promise<boolean>;
  write: (text: string) => void;
  failure: string;
  cleanup: string;
}): Promise<void> {
  const log = logFile(options.layout, WORKER_OWNER_PROCESS);
  const owner = startDetached(process.execPath, [KAMAJI_BIN, ...options.args], log);
  await recordProcess(options.layout, WORKER_OWNER_PROCESS, owner);
  let up = false;
  await followLog(
    log,
    async () => {
      up = await options.ready();
      return up || !isAlive(owner);
    },
    options.write,
  );
  if (!up) throw new Error(`${options.failure} (its log: ${log}); "${options.cleanup}" cleans it up`);
}

/**
 * The worker owner's work (`kamaji worker run`): bring the worker up, then stay to supervise its processes; they
 * stop when it does (SIGTERM from `worker remove`/`down`, or its death).
 */
export async function runWorkerOwner(admin: StateLayout, name: string, report: (line: string) => void) {
  const record = await readWorker(admin, name);
  if (!record) throw new Error(`no worker named ${name} in ${admin.root}`);
  const layout = workerLayout(admin, record);
  if ((await recordedPid(layout, WORKER_OWNER_PROCESS)) !== process.pid) {
    await recordProcess(layout, WORKER_OWNER_PROCESS, process.pid);
  }
  const binaries = await ensureComponents(['kubeadm', 'kubelet']);
  const kubeadm = binaries.get('kubeadm')?.path ?? '';
  const kubelet = binaries.get('kubelet')?.path ?? '';
  const kubeconfig = () => tenantKubeconfig(admin, record.namespace, record.tenant);
  return startWorker(
    admin,
    name,
    new Supervisor(),
    {
      binaries: { kubeadm, kubelet },
      tenantKubeconfig: kubeconfig,
      joinCommand: async () => createJoinCommand(kubeadm, await kubeconfig()),
    },
    report,
  );
}
