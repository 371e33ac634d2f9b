/**
 * Reconciles N TenantControlPlanes on the real harness (etcd + kube-apiserver, no nodes) with `kamaji manager` as
 * its own process, and prints: seconds until all N are provisioned (every Secret, Service, Deployment and etcd
 * user written), manager CPU ms per TCP, manager RSS per TCP, and seconds to delete them all with nothing left in
 * etcd. Usage: node bench/reconcile.ts [N...]   (default: 20 100)
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { GROUP, VERSION } from '../src/api/v1alpha1/group-version.ts';
import type { TenantControlPlane } from '../src/api/v1alpha1/tenant-control-plane.ts';
import { connectEtcd } from '../src/datastore/etcd/connection.ts';
import { freePort } from '../src/process/ports.ts';
import { Supervisor } from '../src/process/supervisor.ts';
import { KUBERNETES_VERSION } from '../src/toolchain/versions.ts';
import { waitFor } from '../src/util/wait.ts';
import { startControlPlane } from '../test/support/harness/control-plane.ts';
import { createEtcdDataStore, installCustomResourceDefinitions } from '../test/support/kamaji-api.ts';

const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const rounds = counts.length > 0 ? counts : [20, 100];
const TICKS_PER_SECOND = 100;
const PAGE_SIZE = 4096;

/** CPU seconds (user + system) and resident bytes of a process, from /proc. */
function usage(pid: number): { cpuSeconds: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]);
  return { cpuSeconds: cpuTicks / TICKS_PER_SECOND, rssBytes: Number(fields[21]) * PAGE_SIZE };
}

const harness = await startControlPlane();
const supervisor = new Supervisor();
try {
  const config = new KubeConfig();
  config.loadFromString(harness.kubeconfigYaml);
  const core = config.makeApiClient(CoreV1Api);
  const custom = config.makeApiClient(CustomObjectsApi);
  await installCustomResourceDefinitions(config);
  await createEtcdDataStore(config, harness, 'default');
  await core.createNamespace({ body: { metadata: { name: 'bench' } } });

  const probePort = await freePort();
  const manager = supervisor.start({
    name: 'kamaji-manager',
    command: process.execPath,
    args: [
      ...(process.env.MANAGER_NODE_FLAGS ?? '').split(' ').filter(Boolean),
      join(import.meta.dirname, '..', 'bin', 'kamaji.js'),
      'manager',
      `--kubeconfig=${harness.kubeconfigPath}`,
      '--datastore=default',
      `--probe-address=127.0.0.1:${probePort}`,
      '--max-concurrent-reconciles=10',
    ],
    logFile: join(harness.dir, 'manager.log'),
  });
  await waitFor(
    async () => {
      return new Promise<true | undefined>((resolve) => {
        request(`http://127.0.0.1:${probePort}/readyz`, (response) =>
          resolve(response.statusCode === 200 ? true : undefined),
        )
          .on('error', () => resolve(undefined))
          .end();
      });
    },
    { timeoutMs: 30_000, description: 'the manager to be ready' },
  );
  const tcps = { group: GROUP, version: VERSION, namespace: 'bench', plural: 'tenantcontrolplanes' };
  const listTenants = async () =>
    ((await custom.listNamespacedCustomObject(tcps)) as { items: TenantControlPlane[] }).items;

  /** Reconciles of TenantControlPlanes so far, from the manager's own metrics. */
  const reconciles = () =>
    new Promise<number>((resolve, reject) => {
      request(`http://127.0.0.1:${probePort}/metrics`, (response) => {
        let text = '';
        response.on('data', (chunk: Buffer) => {
          text += chunk.toString();
        });
        response.on('end', () => {
          const lines = text
            .split('\n')
            .filter((line) => line.startsWith('controller_runtime_reconcile_total{controller="tenantcontrolplane"'));
          resolve(lines.reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0));
        });
      })
        .on('error', reject)
        .end();
    });

  console.log(`manager RSS before any TCP: ${(usage(manager.pid).rssBytes / 1024 / 1024).toFixed(0)} MiB`);
  console.log('N\tprovision_s\tcpu_ms_per_tcp\trss_mib_per_tcp\trss_mib_total\treconciles_per_tcp\tdelete_s');
  let round = 0;
  for (const n of rounds) {
    round += 1;
    const before = usage(manager.pid);
    const reconcilesBefore = await reconciles();
    const started = performance.now();
    const names = Array.from({ length: n }, (_, index) => `r${round}-t${index}`);
    await Promise.all(
      names.map((name) =>
        custom.createNamespacedCustomObject({
          ...tcps,
          body: {
            apiVersion: `${GROUP}/${VERSION}`,
            kind: 'TenantControlPlane',
            metadata: { name, namespace: 'bench' },
            spec: {
              controlPlane: { deployment: { replicas: 1 }, service: { serviceType: 'ClusterIP' } },
              kubernetes: { version: KUBERNETES_VERSION, kubelet: {} },
            },
          },
        }),
      ),
    );
    await waitFor(
      async () => {
        const provisioned = (await listTenants()).filter(
          (tcp) => tcp.status?.kubeconfig?.admin?.secretName && tcp.status.storage?.setup?.user,
        );
        return provisioned.length === n ? true : undefined;
      },
      { timeoutMs: 600_000, intervalMs: 250, description: `${n} TCPs provisioned` },
    );
    const provisionSeconds = (performance.now() - started) / 1000;
    // Let the last status writes and events settle before reading memory.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const after = usage(manager.pid);
    const reconcilesPerTcp = ((await reconciles()) - reconcilesBefore) / n;
    const schemas = (await listTenants()).map((tcp) => tcp.spec.dataStoreSchema ?? '');

    const deleteStarted = performance.now();
    await Promise.all(names.map((name) => custom.deleteNamespacedCustomObject({ ...tcps, name })));
    const etcd = connectEtcd(harness.etcd.root);
    try {
      await waitFor(
        async () => {
          if ((await listTenants()).length > 0) return undefined;
          for (const schema of schemas) {
            if ((await etcd.getAll().prefix(`/${schema}/`).count()) > 0) return undefined;
          }
          return true;
        },
        { timeoutMs: 600_000, intervalMs: 100, description: `${n} TCPs deleted with nothing left in etcd` },
      );
    } finally {
      etcd.close();
    }
    const deleteSeconds = (performance.now() - deleteStarted) / 1000;
    const mib = (bytes: number) => bytes / 1024 / 1024;
    console.log(
      [
        n,
        provisionSeconds.toFixed(1),
        (((after.cpuSeconds - before.cpuSeconds) * 1000) / n).toFixed(1),
        (mib(after.rssBytes - before.rssBytes) / n).toFixed(3),
        mib(after.rssBytes).toFixed(0),
        reconcilesPerTcp.toFixed(1),
        deleteSeconds.toFixed(1),
      ].join('\t'),
    );
  }
} finally {
  await supervisor.stopAll();
  await harness.stop();
}
