import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadClusterAccess } from '../controller/cluster-access.ts';
import { KubeClient } from '../controller/kube-client.ts';
import { Supervisor, tailFile } from '../process/supervisor.ts';
import { ensureComponents } from '../toolchain/ensure.ts';
import { ADMIN_NODE_COMPONENTS, startAdminNode, stopAdminNode, waitForNodeReady } from './admin-node.ts';
import {
  claimDefaultDatastore,
  DEFAULT_DATASTORE_NAME,
  datastoreProcesses,
  ensureDatastore,
  listDatastores,
  serverFor,
} from './datastores/index.ts';
import { datastoreProcess } from './datastores/launch.ts';
import type { LocalDatastoreObjects, LocalDriver } from './datastores/local-datastore.ts';
import { helm, helmUpgradeArgs } from './helm.ts';
import {
  applyTenantControlPlane,
  installKamaji,
  KAMAJI_NAMESPACE,
  KAMAJI_RELEASE,
  tenantControlPlaneManifest,
  waitForManagerReady,
  waitForTenantReady,
} from './kamaji-install.ts';
import { adminKubeconfigPath } from './kubeadm.ts';
import { operatorImageTag, publishOperatorImage } from './operator-image.ts';
import { processesStartedWith, recordedPid, recordProcess, stopPid, stopRecordedProcess } from './pid-files.ts';
import { ensurePrerequisites } from './prerequisites.ts';
import { logFile, type StateLayout, stateLayout, workerLayout } from './state.ts';
import { listWorkers, stopWorker, WORKER_OWNER_PROCESS } from './worker.ts';
import { routeServiceRange } from './worker-network.ts';
import { addWorker, restartWorker } from './worker-owner.ts';

export const DEMO_TENANT = { name: 'demo', namespace: 'default', nodePort: 31443 } as const;
/** Workers `up` gives the demo tenant unless told otherwise (`--workers`). */
export const DEFAULT_WORKERS = 1;
export const OWNER_PROCESS = 'owner';
const TENANT_READY_TIMEOUT_MS = 300_000;
const MANAGER_READY_TIMEOUT_MS = 180_000;
/** Manager replicas `up` runs (the chart's default is 2); see docs/install.md for what each costs `up`. */
export const UP_MANAGER_REPLICAS = 2;

/** Indents what a worker's owner prints under `up`'s step. */
function indent(report: (line: string) => void): (text: string) => void {
  return (text) => {
    for (const line of text.trimEnd().split('\n')) if (line) report(`  ${line}`);
  };
}

/** Written when `up` has finished; its presence (with a live owner) makes a second `up` a no-op. */
export function upSummaryFile(layout: StateLayout): string {
  return join(layout.root, 'up.json');
}

export function hostKubeconfigPath(layout: StateLayout): string {
  return join(layout.root, 'admin.kubeconfig');
}

/** How `up` is asked to shape the instance (`kamaji up` flags). */
export interface UpOptions {
  /** Workers the demo tenant gets. */
  workers: number;
  /** The driver of the DataStore named `default`. */
  datastore: LocalDriver;
}

export const DEFAULT_UP_OPTIONS: UpOptions = { workers: DEFAULT_WORKERS, datastore: 'etcd' };

/** What the owner process runs with after `node bin/kamaji.js`. */
export function ownerArguments(layout: StateLayout, options: UpOptions = DEFAULT_UP_OPTIONS): string[] {
  return [
    'up',
    '--foreground',
    `--state-dir=${layout.root}`,
    `--workers=${options.workers}`,
    `--datastore=${options.datastore}`,
  ];
}

/**
 * The chart values `up` installs Kamaji with, in this one place: the operator image it pushed (pulled again at
 * every start: a rebuilt image keeps its tag) and the replicas; everything else is the chart's default, webhooks
 * included, as on any cluster.
 */
export function upChartValues(imageTag: string): string[] {
  return [`image.tag=${imageTag}`, 'image.pullPolicy=Always', `replicaCount=${UP_MANAGER_REPLICAS}`];
}

/** The arguments that tell this instance's owner from any other process (the state dir among them). */
function ownerIdentifyingArguments(layout: StateLayout): string[] {
  return ownerArguments(layout).slice(0, 3);
}

/**
 * The running owner of this instance: the process its pid file names, and any other started with its arguments
 * (the state dir path among them). A state dir deleted under a running instance takes the pid file with it; the
 * process is found all the same.
 */
export async function ownerProcesses(layout: StateLayout): Promise<number[]> {
  const recorded = await recordedPid(layout, OWNER_PROCESS);
  const started = processesStartedWith(ownerIdentifyingArguments(layout));
  return [...new Set([...(recorded === undefined ? [] : [recorded]), ...started])].sort((a, b) => a - b);
}

/** Stops the owner of this instance, found as `ownerProcesses` finds it, and forgets its pid file. */
export async function stopOwnerProcesses(layout: StateLayout): Promise<void> {
  await stopRecordedProcess(layout, OWNER_PROCESS);
  await Promise.all(processesStartedWith(ownerIdentifyingArguments(layout)).map((pid) => stopPid(pid)));
}

export interface UpSummary {
  stateDir: string;
  adminKubeconfig: string;
  tenantCommand: string;
}

interface Step {
  name: string;
  /** Logs worth showing when the step fails. */
  logs: string[];
  run: () => Promise<void>;
}

/**
 * Runs steps in order, printing each with its duration; a failed step is named with the tail of its components'
 * logs. Whatever started keeps its state on disk, so `up` resumes and `down` cleans.
 */
async function runSteps(steps: readonly Step[], report: (line: string) => void): Promise<void> {
  const started = Date.now();
  for (const step of steps) {
    const stepStarted = Date.now();
    report(`… ${step.name}`);
    try {
      await step.run();
    } catch (error) {
      const tails = await Promise.all(step.logs.map(async (file) => `--- ${file}\n${await tailFile(file, 25)}`));
      throw new Error(`step "${step.name}" failed: ${(error as Error).message}\n${tails.join('\n')}`);
    }
    report(
      `✓ ${step.name} (${((Date.now() - stepStarted) / 1000).toFixed(1)}s, ${((Date.now() - started) / 1000).toFixed(1)}s in all)`,
    );
  }
}

/**
 * The whole main job, run by the owner process that then stays to supervise: the admin node (kubeadm, containerd,
 * kubelet, kube-proxy), the DataStore `default` (etcd, PostgreSQL or MariaDB, `options.datastore`), Kamaji's CRDs, the manager as pods installed with the chart
 * (as on any cluster), and a demo tenant, Ready.
 */
export async function bringUp(
  stateDir: string,
  report: (line: string) => void,
  options: UpOptions = DEFAULT_UP_OPTIONS,
): Promise<UpSummary> {
  const { workers } = options;
  const server = serverFor(options.datastore);
  const supervisor = new Supervisor();
  const layout = stateLayout(stateDir);
  await recordProcess(layout, OWNER_PROCESS, process.pid);
  let client: KubeClient | undefined;
  const dataStores: LocalDatastoreObjects[] = [];
  let box: Awaited<ReturnType<typeof startAdminNode>>['box'] | undefined;
  const nodeLogs = ['containerd', 'kubelet', 'kubeadm-init'].map((name) => logFile(layout, name));
  const summary: UpSummary = {
    stateDir: layout.root,
    adminKubeconfig: hostKubeconfigPath(layout),
    tenantCommand: `kubectl --kubeconfig <(npx kamaji kubeconfig ${DEMO_TENANT.name} --state-dir ${layout.root}) get nodes`,
  };
  await runSteps(
    [
      {
        name: 'host packages (containerd, runc, CNI plugins, iptables, docker-registry, PostgreSQL, MariaDB)',
        logs: [],
        run: async () => {
          await ensurePrerequisites(report);
        },
      },
      {
        name: 'toolchain (Kubernetes, etcd, CoreDNS, konnectivity, helm)',
        logs: [],
        run: async () => {
          await ensureComponents([...ADMIN_NODE_COMPONENTS, 'helm']);
        },
      },
      {
        name: 'admin node: box, containerd, registry, images, kubeadm init, kubelet, kube-proxy',
        logs: nodeLogs,
        run: async () => {
          box = (await startAdminNode({ stateDir, supervisor, report: (line) => report(`  ${line}`) })).box;
          await routeServiceRange(layout);
        },
      },
      { name: 'admin node Ready', logs: nodeLogs, run: () => waitForNodeReady(layout) },
      {
        // The ones `kamaji datastore add` added before a `down` start again too.
        name: `DataStore ${DEFAULT_DATASTORE_NAME}: ${server.description}, and any added ones`,
        logs: [logFile(layout, datastoreProcess(DEFAULT_DATASTORE_NAME))],
        run: async () => {
          if (!box) throw new Error('the admin node box is not up');
          await claimDefaultDatastore(layout, options.datastore);
          for (const record of await listDatastores(layout)) dataStores.push(await ensureDatastore(box, record));
        },
      },
      {
        name: 'Kamaji CRDs and the DataStores',
        logs: [],
        run: async () => {
          await writeFile(hostKubeconfigPath(layout), await readFile(adminKubeconfigPath(layout)), { mode: 0o600 });
          client = new KubeClient(loadClusterAccess(hostKubeconfigPath(layout)));
          await installKamaji(client, dataStores);
        },
      },
      {
        name: `Kamaji manager pods (helm upgrade --install ${KAMAJI_RELEASE} charts/kamaji -n ${KAMAJI_NAMESPACE}), Ready`,
        logs: [],
        run: async () => {
          if (!client) throw new Error('no admin cluster client');
          const tag = operatorImageTag();
          await publishOperatorImage(layout, { tag, report: (line) => report(`  ${line}`) });
          const release = { name: KAMAJI_RELEASE, namespace: KAMAJI_NAMESPACE, values: upChartValues(tag) };
          await helm(helmUpgradeArgs(release, hostKubeconfigPath(layout)));
          await waitForManagerReady(client, MANAGER_READY_TIMEOUT_MS);
        },
      },
      {
        name: `demo tenant ${DEMO_TENANT.namespace}/${DEMO_TENANT.name} Ready`,
        logs: [logFile(layout, 'kubelet')],
        run: async () => {
          if (!client) throw new Error('no admin cluster client');
          await applyTenantControlPlane(
            client,
            tenantControlPlaneManifest(DEMO_TENANT.name, DEMO_TENANT.namespace, DEMO_TENANT.nodePort),
          );
          await waitForTenantReady(client, DEMO_TENANT.namespace, DEMO_TENANT.name, TENANT_READY_TIMEOUT_MS);
        },
      },
      {
        name: `${workers} worker(s) of the demo tenant Ready (kubeadm join)`,
        logs: [],
        run: async () => {
          const demo = { namespace: DEMO_TENANT.namespace, tenant: DEMO_TENANT.name };
          const existing = (await listWorkers(layout)).filter(
            (worker) => worker.namespace === demo.namespace && worker.tenant === demo.tenant,
          );
          // A worker left from an earlier `up` whose owner is gone is started again (it joined before).
          for (const worker of existing) {
            if ((await recordedPid(workerLayout(layout, worker), WORKER_OWNER_PROCESS)) === undefined) {
              await restartWorker(layout, worker.name, indent(report));
            }
          }
          for (let added = existing.length; added < workers; added += 1) {
            await addWorker(layout, demo, indent(report));
          }
        },
      },
    ],
    report,
  );
  client?.close();
  await writeFile(upSummaryFile(layout), JSON.stringify(summary));
  return summary;
}

/** The summary of a completed `up` whose owner still runs; undefined otherwise. */
export async function completedUp(layout: StateLayout): Promise<UpSummary | undefined> {
  if ((await recordedPid(layout, OWNER_PROCESS)) === undefined) return undefined;
  const text = await readFile(upSummaryFile(layout), 'utf8').catch(() => undefined);
  return text ? (JSON.parse(text) as UpSummary) : undefined;
}

/**
 * Stops everything `up` started, from any state (the state dir deleted under a running instance included: the
 * owner is then found by its command line); with `purge`, the state dir goes too. The manager's pods stop with
 * the node's other pods.
 */
export async function bringDown(layout: StateLayout, options: { purge: boolean }): Promise<void> {
  await rm(upSummaryFile(layout), { force: true });
  for (const worker of await listWorkers(layout)) await stopWorker(layout, worker, { purge: false });
  // The datastores stop after the tenant pods: while an etcd's watches are open, it waits 7 s for them to end.
  await stopAdminNode(layout, { removeState: false, stopAfterPods: await datastoreProcesses(layout) });
  await stopOwnerProcesses(layout);
  if (options.purge) await stopAdminNode(layout, { removeState: true });
}
