/**
 * Tenants that run workloads, timed (median of 5 each):
 *   - `kamaji up --workers 1` from a fresh state dir with warm caches (then `down --purge`);
 *   - `kamaji worker add` → Node Ready, on a running instance;
 *   - a TenantControlPlane with the three addons applied → Ready, and → CoreDNS available (a worker added as soon
 *     as the tenant is Ready: CoreDNS needs a node);
 * and the idle resident memory of each new component: konnectivity-server (per tenant), the konnectivity agent,
 * CoreDNS, kube-proxy, and a worker's kubelet + containerd.
 * Run as root: node bench/workers.ts [runs]   (uses its own temporary state dirs and purges them)
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Deployment } from '@kubernetes/client-node';
import { runCommand } from '../src/cluster/command.ts';
import {
  applyTenantControlPlane,
  tenantControlPlaneManifest,
  waitForTenantReady,
} from '../src/cluster/kamaji-install.ts';
import { processesOfInstance } from '../src/cluster/node-box.ts';
import { recordedPid } from '../src/cluster/pid-files.ts';
import { type StateLayout, stateLayout, workerLayout } from '../src/cluster/state.ts';
import { tenantKubeconfig } from '../src/cluster/status.ts';
import { hostKubeconfigPath } from '../src/cluster/up.ts';
import { listWorkers } from '../src/cluster/worker.ts';
import { accessFromKubeconfig, loadClusterAccess } from '../src/controller/cluster-access.ts';
import { builtinResources, hasStatus, KubeClient, resourcePath } from '../src/controller/kube-client.ts';
import { waitFor } from '../src/util/wait.ts';

const RUNS = Number(process.argv[2] ?? 5);
const BIN = join(import.meta.dirname, '..', 'bin', 'kamaji.js');
const NAMESPACE = 'default';
const FIRST_NODE_PORT = 31460;
const SETTLE_MS = 10_000;
const TIMEOUT_MS = 300_000;

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

const seconds = (from: number) => (performance.now() - from) / 1000;
const figure = (values: readonly number[]) =>
  `median ${median(values).toFixed(1)} s (${values.map((value) => value.toFixed(1)).join(', ')})`;

async function kamaji(...args: string[]): Promise<void> {
  await runCommand(process.execPath, [BIN, ...args]);
}

function vmRssKib(pid: number): number {
  try {
    return Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

function comm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Resident memory (MiB) of the processes of an instance, and how many there are, by command name. */
function rssByCommand(layout: StateLayout, holder: number | undefined): Map<string, { mib: number; count: number }> {
  const rss = new Map<string, { mib: number; count: number }>();
  for (const pid of processesOfInstance(layout, holder)) {
    const name = comm(pid);
    const sum = rss.get(name) ?? { mib: 0, count: 0 };
    rss.set(name, { mib: sum.mib + vmRssKib(pid) / 1024, count: sum.count + 1 });
  }
  return rss;
}

async function upFromFresh(): Promise<number[]> {
  const times: number[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    const dir = await mkdtemp('/tmp/kamaji-bench-up-');
    const started = performance.now();
    await kamaji('up', `--state-dir=${dir}`, '--workers=1');
    times.push(seconds(started));
    await kamaji('down', `--state-dir=${dir}`, '--purge');
    await rm(dir, { recursive: true, force: true });
  }
  return times;
}

async function tenantClient(layout: StateLayout, name: string): Promise<KubeClient> {
  return new KubeClient(accessFromKubeconfig(await tenantKubeconfig(layout, NAMESPACE, name), '/', name));
}

async function main(): Promise<void> {
  process.stdout.write(`kamaji up --workers 1 from a fresh state dir (warm caches), ${RUNS} runs…\n`);
  const up = await upFromFresh();
  process.stdout.write(`  ${figure(up)}\n`);

  const dir = await mkdtemp('/tmp/kamaji-bench-workers-');
  const layout = stateLayout(dir);
  try {
    await kamaji('up', `--state-dir=${dir}`, '--workers=1');
    const admin = new KubeClient(loadClusterAccess(hostKubeconfigPath(layout)));
    const add: number[] = [];
    const ready: number[] = [];
    const dns: number[] = [];
    for (let run = 0; run < RUNS; run += 1) {
      const started = performance.now();
      await kamaji('worker', 'add', 'demo', `--state-dir=${dir}`, '--name=bench-worker');
      add.push(seconds(started));
      await kamaji('worker', 'remove', 'bench-worker', `--state-dir=${dir}`);
    }
    process.stdout.write(`worker add → Node Ready: ${figure(add)}\n`);

    for (let run = 0; run < RUNS; run += 1) {
      const name = `bench-${run}`;
      const applied = performance.now();
      await applyTenantControlPlane(admin, tenantControlPlaneManifest(name, NAMESPACE, FIRST_NODE_PORT + run));
      await waitForTenantReady(admin, NAMESPACE, name, TIMEOUT_MS);
      ready.push(seconds(applied));
      await kamaji('worker', 'add', name, `--state-dir=${dir}`);
      const tenant = await tenantClient(layout, name);
      await waitFor(
        async () => {
          const coredns = await tenant
            .request<V1Deployment>(
              'GET',
              resourcePath(builtinResources.deployment, { namespace: 'kube-system', name: 'coredns' }),
            )
            .catch((error: unknown) => (hasStatus(error, 404) ? undefined : Promise.reject(error)));
          return (coredns?.status?.availableReplicas ?? 0) > 0 || undefined;
        },
        { timeoutMs: TIMEOUT_MS, intervalMs: 250, description: `CoreDNS available in ${name}` },
      );
      dns.push(seconds(applied));
      tenant.close();
    }
    process.stdout.write(`TCP with the three addons applied → Ready: ${figure(ready)}\n`);
    process.stdout.write(`TCP applied → CoreDNS available (worker added at Ready): ${figure(dns)}\n`);

    await sleep(SETTLE_MS);
    const admins = rssByCommand(layout, await recordedPid(layout, 'mount-holder'));
    const servers = RUNS + 1;
    process.stdout.write(
      `idle RSS: konnectivity-server ${((admins.get('proxy-server')?.mib ?? 0) / servers).toFixed(0)} MiB per tenant\n`,
    );
    const worker = (await listWorkers(layout)).find((w) => w.tenant === 'demo');
    if (worker) {
      const box = workerLayout(layout, worker);
      const rss = rssByCommand(box, await recordedPid(box, 'mount-holder'));
      const mib = (name: string) => {
        const { mib: total, count } = rss.get(name) ?? { mib: 0, count: 0 };
        return `${total.toFixed(0)} MiB${count > 1 ? ` (${count} processes)` : ''}`;
      };
      process.stdout.write(
        `idle RSS on a worker: konnectivity agent ${mib('proxy-agent')}, CoreDNS ${mib('coredns')}, kube-proxy ${mib('kube-proxy')}, kubelet ${mib('kubelet')} + containerd ${mib('containerd')} (+ shims ${mib('containerd-shim')})\n`,
      );
    }
    admin.close();
  } finally {
    await kamaji('down', `--state-dir=${dir}`, '--purge');
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
