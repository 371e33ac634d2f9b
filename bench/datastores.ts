/**
 * Per local datastore driver: how long a TenantControlPlane takes from being applied to Ready (median of N), and the
 * manager's CPU per TCP (its pods' processes, user + system, from apply to the TCP deleted with its database or
 * keys). One instance (`kamaji up --workers 0`, etcd default) with a `kamaji datastore add` per other driver.
 * Run as root: node bench/datastores.ts [N]   (default 3; brings up its own instance, then purges it)
 */
import { readFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { tenantControlPlaneResource } from '../src/api/v1alpha1/resources.ts';
import { runCommand } from '../src/cluster/command.ts';
import { LOCAL_DATASTORE_SERVERS } from '../src/cluster/datastores/index.ts';
import {
  applyTenantControlPlane,
  tenantControlPlaneManifest,
  waitForTenantReady,
} from '../src/cluster/kamaji-install.ts';
import { processesOfInstance } from '../src/cluster/node-box.ts';
import { processArguments, recordedPid } from '../src/cluster/pid-files.ts';
import { stateLayout } from '../src/cluster/state.ts';
import { hostKubeconfigPath } from '../src/cluster/up.ts';
import { loadClusterAccess } from '../src/controller/cluster-access.ts';
import { hasStatus, KubeClient, resourcePath } from '../src/controller/kube-client.ts';
import { waitFor } from '../src/util/wait.ts';
import { median } from './median.ts';

const RUNS = Number(process.argv[2] ?? 3);
const NAMESPACE = 'default';
const FIRST_NODE_PORT = 31460;
const TIMEOUT_MS = 300_000;
const CLOCK_TICKS_PER_SECOND = 100;
const BIN = join(import.meta.dirname, '..', 'bin', 'kamaji.js');

if (process.getuid?.() !== 0) {
  process.stderr.write('run as root: kamaji up needs network namespaces, mounts and containerd\n');
  process.exit(1);
}

/** CPU seconds of the manager's processes (`kamaji.js manager` in its pods). */
function managerCpuSeconds(pids: readonly number[]): number {
  let ticks = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // Ended: its CPU is lost to the count, which the table notes by the pid count staying the same.
    }
  }
  return ticks / CLOCK_TICKS_PER_SECOND;
}

const stateDir = await mkdtemp('/tmp/kamaji-bench-datastores-');
const layout = stateLayout(stateDir);
const kamaji = (...args: string[]) => runCommand(process.execPath, [BIN, ...args, `--state-dir=${stateDir}`]);
try {
  const upStarted = performance.now();
  await kamaji('up', '--workers=0');
  process.stderr.write(`kamaji up: ${((performance.now() - upStarted) / 1000).toFixed(1)}s\n`);
  const drivers = Object.keys(LOCAL_DATASTORE_SERVERS);
  for (const driver of drivers.filter((name) => name !== 'etcd')) {
    const started = performance.now();
    await kamaji('datastore', 'add', driver, `--name=${driver}`);
    process.stderr.write(`kamaji datastore add ${driver}: ${((performance.now() - started) / 1000).toFixed(1)}s\n`);
  }
  const dataStoreOf = (driver: string) => (driver === 'etcd' ? 'default' : driver);
  const managers = processesOfInstance(layout, await recordedPid(layout, 'mount-holder')).filter((pid) => {
    const args = processArguments(pid) ?? [];
    return args.some((arg) => arg.endsWith('kamaji.js')) && args.includes('manager');
  });
  const client = new KubeClient(loadClusterAccess(hostKubeconfigPath(layout)));
  const rows: string[][] = [];
  try {
    let port = FIRST_NODE_PORT;
    for (const driver of drivers) {
      const seconds: number[] = [];
      const cpu: number[] = [];
      for (let run = 0; run < RUNS; run += 1) {
        const name = `bench-${driver}-${run}`;
        const tcp = tenantControlPlaneManifest(name, NAMESPACE, port);
        port += 1;
        tcp.spec.dataStore = dataStoreOf(driver);
        const cpuBefore = managerCpuSeconds(managers);
        const started = performance.now();
        await applyTenantControlPlane(client, tcp);
        await waitForTenantReady(client, NAMESPACE, name, TIMEOUT_MS);
        seconds.push((performance.now() - started) / 1000);
        const location = resourcePath(tenantControlPlaneResource, { namespace: NAMESPACE, name });
        await client.request('DELETE', location);
        await waitFor(
          () =>
            client.request('GET', location).then(
              () => undefined,
              (error: unknown) => (hasStatus(error, 404) ? true : Promise.reject(error)),
            ),
          { timeoutMs: TIMEOUT_MS, intervalMs: 250, description: `TCP ${name} deleted` },
        );
        cpu.push((managerCpuSeconds(managers) - cpuBefore) * 1000);
      }
      rows.push([
        driver,
        median(seconds).toFixed(1),
        `${Math.min(...seconds).toFixed(1)}–${Math.max(...seconds).toFixed(1)}`,
        median(cpu).toFixed(0),
      ]);
    }
  } finally {
    client.close();
  }
  console.log(`TCP apply → Ready per local datastore driver, median of ${RUNS} (one at a time, no workers)`);
  console.log(['driver', 'ready_s', 'range_s', 'manager_cpu_ms_per_tcp'].join('\t'));
  for (const row of rows) console.log(row.join('\t'));
  console.log(`(manager processes measured: ${managers.length}; CPU from apply to the TCP deleted, cleanup included)`);
} finally {
  await runCommand(process.execPath, [BIN, 'down', `--state-dir=${stateDir}`, '--purge']);
}
