/**
 * Live migration, timed: a fresh `kamaji up --workers 0` (warm caches), `datastore add etcd --name etcd2` and
 * `datastore add postgresql --name pg1`, OBJECTS ConfigMaps created in the demo tenant, then the tenant moved
 * default(etcd) → etcd2 → pg1 → default. For each move: the seconds from the spec change to the switch (claim,
 * freeze, copy, verify) and to `DataStoreMigrated=Migrated` (the pods rolled onto the target, the freeze lifted,
 * the source cleaned), each also per 1,000 keys copied. Prints a table; purges its state dir.
 * Run as root: node bench/migration.ts [objects]   (default 1000)
 */
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Condition } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../src/cluster/command.ts';
import { stateLayout } from '../src/cluster/state.ts';
import { tenantKubeconfig } from '../src/cluster/status.ts';
import { DEMO_TENANT, hostKubeconfigPath } from '../src/cluster/up.ts';
import { accessFromKubeconfig, loadClusterAccess } from '../src/controller/cluster-access.ts';
import { builtinResources, KubeClient, resourcePath } from '../src/controller/kube-client.ts';

const OBJECTS = Number(process.argv[2] ?? 1000);
const BIN = join(import.meta.dirname, '..', 'bin', 'kamaji.js');
const MOVES = [
  ['default', 'etcd2'],
  ['etcd2', 'pg1'],
  ['pg1', 'default'],
] as const;
const TIMEOUT_MS = 600_000;
const PARALLEL_CREATES = 16;

async function kamaji(...args: string[]): Promise<void> {
  await runCommand(process.execPath, [BIN, ...args]);
}

const tcpPath = `/apis/kamaji.clastix.io/v1alpha1/namespaces/${DEMO_TENANT.namespace}/tenantcontrolplanes/${DEMO_TENANT.name}`;

function migrated(tcp: TenantControlPlane): V1Condition | undefined {
  const conditions = (tcp.status?.conditions ?? []) as V1Condition[];
  return conditions.find((condition) => condition.type === 'DataStoreMigrated' && condition.reason === 'Migrated');
}

async function createConfigMaps(tenant: KubeClient, count: number): Promise<void> {
  const path = resourcePath(builtinResources.configMap, { namespace: 'default' });
  let next = 0;
  await Promise.all(
    Array.from({ length: PARALLEL_CREATES }, async () => {
      while (next < count) {
        const index = next++;
        const body = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: `bench-${index}` },
          data: { index: `${index}` },
        };
        await tenant.request('POST', path, { body });
      }
    }),
  );
}

/** Moves the demo tenant to `target`: seconds to the switch and to Migrated, and the keys copied. */
async function move(admin: KubeClient, target: string): Promise<{ switched: number; done: number; keys: number }> {
  const started = performance.now();
  await admin.request('PATCH', tcpPath, {
    body: { spec: { dataStore: target } },
    contentType: 'application/merge-patch+json',
  });
  let switched: number | undefined;
  let keys = 0;
  while (performance.now() - started < TIMEOUT_MS) {
    const tcp = await admin.request<TenantControlPlane>('GET', tcpPath);
    const record = tcp.status?.storage?.migration;
    if (record?.step === 'Switched' && switched === undefined) {
      switched = (performance.now() - started) / 1000;
      keys = record.keys ?? 0;
    }
    if (record?.step === 'Failed') throw new Error(`the move to ${target} failed: ${record.message}`);
    if (!record && tcp.status?.storage?.dataStoreName === target && migrated(tcp)) {
      const done = (performance.now() - started) / 1000;
      return { switched: switched ?? done, done, keys };
    }
    await sleep(200);
  }
  throw new Error(`the move to ${target} did not finish within ${TIMEOUT_MS / 1000} s`);
}

const workDir = await mkdtemp('/tmp/mig-bench-');
// Searchable by others: PostgreSQL runs as its own OS user and must reach its data below.
await chmod(workDir, 0o711);
const layout = stateLayout(join(workDir, 'state'));
try {
  await kamaji('up', `--state-dir=${layout.root}`, '--workers=0');
  await kamaji('datastore', 'add', 'etcd', '--name=etcd2', `--state-dir=${layout.root}`);
  await kamaji('datastore', 'add', 'postgresql', '--name=pg1', `--state-dir=${layout.root}`);
  const admin = new KubeClient(loadClusterAccess(hostKubeconfigPath(layout)));
  const tenantAccess = accessFromKubeconfig(
    await tenantKubeconfig(layout, DEMO_TENANT.namespace, DEMO_TENANT.name),
    '/',
    'demo',
  );
  const tenant = new KubeClient(tenantAccess);
  const created = performance.now();
  await createConfigMaps(tenant, OBJECTS);
  console.log(`${OBJECTS} ConfigMaps created in ${((performance.now() - created) / 1000).toFixed(1)} s`);
  console.log(
    '| move | keys copied | spec change → switch | per 1,000 keys | → Migrated (pods rolled) | per 1,000 keys |',
  );
  console.log('|---|---|---|---|---|---|');
  for (const [source, target] of MOVES) {
    const { switched, done, keys } = await move(admin, target);
    const per = (seconds: number) => ((seconds * 1000) / Math.max(keys, 1)).toFixed(2);
    console.log(
      `| ${source} → ${target} | ${keys} | ${switched.toFixed(1)} s | ${per(switched)} s | ${done.toFixed(1)} s | ${per(done)} s |`,
    );
  }
  admin.close();
  tenant.close();
} finally {
  await kamaji('down', `--state-dir=${layout.root}`, '--purge').catch((error: Error) => console.error(error.message));
  await rm(workDir, { recursive: true, force: true });
}
