/**
 * How long a TenantControlPlane takes from being applied to Ready on a local admin cluster (`kamaji up`), against
 * the physical floor: a bare kube-apiserver process on the same machine, from its start to /readyz 200 against a
 * fresh local etcd. Also the resident memory of each container of the tenant pod. Median of 5 runs each.
 * Run as root: node bench/tenant-ready.ts   (brings up its own instance in a temporary state dir, then purges it)
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { tenantControlPlaneResource } from '../src/api/v1alpha1/resources.ts';
import { runCommand } from '../src/cluster/command.ts';
import {
  applyTenantControlPlane,
  tenantControlPlaneManifest,
  waitForTenantReady,
} from '../src/cluster/kamaji-install.ts';
import { processStartTime } from '../src/cluster/pid-files.ts';
import { stateLayout } from '../src/cluster/state.ts';
import { hostKubeconfigPath } from '../src/cluster/up.ts';
import { loadClusterAccess } from '../src/controller/cluster-access.ts';
import { hasStatus, KubeClient, type ResourceType, resourcePath } from '../src/controller/kube-client.ts';
import { LABEL_TENANT } from '../src/tenant/names.ts';
import { waitFor } from '../src/util/wait.ts';
import { startControlPlane } from '../test/support/harness/control-plane.ts';

const RUNS = 5;
const NAMESPACE = 'default';
const FIRST_NODE_PORT = 31450;
/** Memory is read this long after Ready, once start-up has settled a little. */
const SETTLE_MS = 5_000;
const TIMEOUT_MS = 300_000;
const CLOCK_TICKS_PER_SECOND = 100;
const BIN = join(import.meta.dirname, '..', 'bin', 'kamaji.js');
const CONTAINERS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler'] as const;
const podResource = { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true } as const satisfies ResourceType;

interface Run {
  seconds: number;
  /** Resident bytes by container name. */
  rss: Map<string, number>;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function vmRssBytes(pid: number): number {
  const kib = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kib ?? 0) * 1024;
}

/** VmRSS summed over each container's processes, found by their cgroup (named after the container id). */
function rssByContainer(pod: V1Pod): Map<string, number> {
  const nameById = new Map(
    (pod.status?.containerStatuses ?? []).map((status) => [status.containerID?.split('://')[1] ?? '', status.name]),
  );
  const rss = new Map<string, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cgroups = readFileSync(`/proc/${entry}/cgroup`, 'utf8').split('\n');
      const name = cgroups.map((line) => nameById.get(line.slice(line.lastIndexOf('/') + 1))).find(Boolean);
      if (name) rss.set(name, (rss.get(name) ?? 0) + vmRssBytes(Number(entry)));
    } catch {
      // The process ended while we looked.
    }
  }
  return rss;
}

async function tenantPods(client: KubeClient, name: string): Promise<V1Pod[]> {
  const list = await client.request<{ items: V1Pod[] }>('GET', resourcePath(podResource, { namespace: NAMESPACE }), {
    query: { labelSelector: `${LABEL_TENANT}=${name}` },
  });
  return list.items;
}

/** Deletes the tenant and waits until it and its pods are gone, so that the next run starts on a quiet node. */
async function deleteTenant(client: KubeClient, name: string): Promise<void> {
  const tcp = resourcePath(tenantControlPlaneResource, { namespace: NAMESPACE, name });
  await client.request('DELETE', tcp);
  await waitFor(
    async () => {
      const exists = await client.request('GET', tcp).then(
        () => true,
        (error: unknown) => {
          if (hasStatus(error, 404)) return false;
          throw error;
        },
      );
      return !exists && (await tenantPods(client, name)).length === 0 ? true : undefined;
    },
    { timeoutMs: TIMEOUT_MS, intervalMs: 250, description: `TenantControlPlane ${name} and its pods to go` },
  );
}

async function tenantRun(client: KubeClient, index: number): Promise<Run> {
  const name = `bench-${index}`;
  const started = performance.now();
  await applyTenantControlPlane(client, tenantControlPlaneManifest(name, NAMESPACE, FIRST_NODE_PORT + index));
  await waitForTenantReady(client, NAMESPACE, name, TIMEOUT_MS);
  const seconds = (performance.now() - started) / 1000;
  await sleep(SETTLE_MS);
  const [pod] = await tenantPods(client, name);
  if (!pod) throw new Error(`TenantControlPlane ${name} is Ready but has no pod`);
  const rss = rssByContainer(pod);
  await deleteTenant(client, name);
  return { seconds, rss };
}

/** From the kube-apiserver process's start (its kernel start time) to /readyz answering 200 (polled every 200 ms). */
async function bareApiserverRun(): Promise<Run> {
  const harness = await startControlPlane();
  try {
    const readyAt = Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
    const pid = harness
      .pids()
      .find((candidate) => readFileSync(`/proc/${candidate}/comm`, 'utf8').trim() === 'kube-apiserver');
    if (pid === undefined) throw new Error('the harness runs no kube-apiserver');
    const seconds = readyAt - Number(processStartTime(pid)) / CLOCK_TICKS_PER_SECOND;
    await sleep(SETTLE_MS);
    return { seconds, rss: new Map([['kube-apiserver', vmRssBytes(pid)]]) };
  } finally {
    await harness.stop();
  }
}

function row(label: string, values: readonly number[], digits: number): string {
  const runs = values.map((value) => value.toFixed(digits)).join(' ');
  return `${label.padEnd(46)} ${median(values).toFixed(digits).padStart(8)}   ${runs}`;
}

if (process.getuid?.() !== 0) {
  process.stderr.write('run as root: kamaji up needs network namespaces, mounts and containerd\n');
  process.exit(1);
}

const stateDir = await mkdtemp('/tmp/kamaji-bench-');
const tenantRuns: Run[] = [];
const bareRuns: Run[] = [];
try {
  const upStarted = performance.now();
  await runCommand(process.execPath, [BIN, 'up', `--state-dir=${stateDir}`]);
  process.stderr.write(`kamaji up: ${((performance.now() - upStarted) / 1000).toFixed(1)}s\n`);
  const client = new KubeClient(loadClusterAccess(hostKubeconfigPath(stateLayout(stateDir))));
  try {
    for (let index = 0; index < RUNS; index += 1) {
      tenantRuns.push(await tenantRun(client, index));
      process.stderr.write(`TCP run ${index + 1}: Ready in ${tenantRuns.at(-1)?.seconds.toFixed(2)}s\n`);
    }
  } finally {
    client.close();
  }
  // With the admin cluster still up: the same machine under the same background load.
  for (let index = 0; index < RUNS; index += 1) {
    bareRuns.push(await bareApiserverRun());
    process.stderr.write(`bare kube-apiserver run ${index + 1}: ready in ${bareRuns.at(-1)?.seconds.toFixed(2)}s\n`);
  }
} finally {
  await runCommand(process.execPath, [BIN, 'down', `--state-dir=${stateDir}`, '--purge']);
}

const mib = (bytes: number | undefined) => (bytes ?? 0) / 1024 / 1024;
const tenantSeconds = tenantRuns.map((run) => run.seconds);
const bareSeconds = bareRuns.map((run) => run.seconds);
console.log(`${'measure'.padEnd(46)} ${'median'.padStart(8)}   runs`);
console.log(row('TCP applied → status Ready (s)', tenantSeconds, 2));
console.log(row('bare kube-apiserver start → /readyz 200 (s)', bareSeconds, 2));
console.log(
  `${'ratio TCP-Ready / bare kube-apiserver'.padEnd(46)} ${(median(tenantSeconds) / median(bareSeconds)).toFixed(1).padStart(8)}`,
);
for (const container of CONTAINERS) {
  console.log(
    row(
      `tenant pod RSS, ${container} (MiB)`,
      tenantRuns.map((run) => mib(run.rss.get(container))),
      0,
    ),
  );
}
const podTotals = tenantRuns.map((run) => mib([...run.rss.values()].reduce((sum, bytes) => sum + bytes, 0)));
console.log(row('tenant pod RSS, all containers (MiB)', podTotals, 0));
console.log(
  row(
    'bare kube-apiserver RSS (MiB)',
    bareRuns.map((run) => mib(run.rss.get('kube-apiserver'))),
    0,
  ),
);
console.log(`(RSS: VmRSS of each container's processes ${SETTLE_MS / 1000}s after Ready)`);
