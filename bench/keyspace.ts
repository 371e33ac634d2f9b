/**
 * What moving a tenant's data costs per driver: seconds per 1,000 objects to read a tenant's key space at one
 * revision (`snapshot`) and to write it into an empty one (`replace`), for etcd, PostgreSQL and MySQL (MariaDB),
 * each real and local, with TLS; SQL through the private kine gateway, whose start-up is shown apart. This is the
 * floor under migration and backup/restore, which add their own steps around it. Median of 3 runs.
 * Run as root: node bench/keyspace.ts [objects=1000]
 */
import { performance } from 'node:perf_hooks';
import type { ResolvedDataStore } from '../src/datastore/connections.ts';
import type { TenantStorage } from '../src/datastore/driver.ts';
import { type KeyValue, openTenantKeyspace, type TenantKeyspace } from '../src/datastore/keyspace/keyspace.ts';
import { mysqlDriver } from '../src/datastore/mysql/driver.ts';
import { postgresDriver } from '../src/datastore/postgresql/driver.ts';
import { generatePassword } from '../src/datastore/sql/password.ts';
import { Supervisor } from '../src/process/supervisor.ts';
import { ensureComponent } from '../src/toolchain/ensure.ts';
import { startTestMariadb } from '../test/support/mariadb.ts';
import { startTestPostgres } from '../test/support/postgresql.ts';
import { standaloneEtcd } from '../test/support/standalone-etcd.ts';

const OBJECTS = Number(process.argv[2] ?? 1000);
const RUNS = 3;
/** About a small ConfigMap as the API server stores it (protobuf). */
const VALUE_BYTES = 1_500;
const OWNER = { uid: 'uid-bench', namespace: 'bench', name: 'bench' };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
const per1000 = (seconds: number) => (seconds * 1000) / OBJECTS;

function objects(): KeyValue[] {
  return Array.from({ length: OBJECTS }, (_, index) => ({
    key: `configmaps/bench/cm-${String(index).padStart(6, '0')}`,
    value: Buffer.alloc(VALUE_BYTES, index % 251),
  }));
}

async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const started = performance.now();
  const result = await work();
  return [result, (performance.now() - started) / 1000];
}

const supervisor = new Supervisor();
const kineBinary = (await ensureComponent('kine')).path;
const etcd = await standaloneEtcd(supervisor, 'bench-keyspace');
const running = await etcd.start();
const [postgres, mariadb] = await Promise.all([startTestPostgres(supervisor), startTestMariadb(supervisor)]);
const password = generatePassword();
const stores: { name: string; store: ResolvedDataStore }[] = [
  { name: 'etcd', store: { kind: 'etcd', root: running.root, ca: { certificatePem: '', privateKeyPem: '' } } },
  { name: 'PostgreSQL', store: { kind: 'PostgreSQL', connection: postgres.administrator } },
  { name: 'MySQL', store: { kind: 'MySQL', connection: mariadb.administrator } },
];
const rows: string[] = [];
try {
  const data = objects();
  for (const { name, store } of stores) {
    const opens: number[] = [];
    const writes: number[] = [];
    const reads: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const storage: TenantStorage = { schema: `bench_${run}`, username: `bench_${run}_user`, password };
      if (store.kind !== 'etcd') {
        const driver = store.kind === 'PostgreSQL' ? postgresDriver(store.connection) : mysqlDriver(store.connection);
        await driver.ensureTenant(storage, { ...OWNER, uid: `${OWNER.uid}-${run}` }).finally(() => driver.close());
      }
      const [keyspace, opened] = await timed<TenantKeyspace>(() => openTenantKeyspace(store, storage, { kineBinary }));
      try {
        const [, written] = await timed(() => keyspace.replace(data));
        const [snapshot, read] = await timed(() => keyspace.snapshot());
        if (snapshot.entries.length !== OBJECTS) throw new Error(`${name}: read ${snapshot.entries.length} keys`);
        opens.push(opened);
        writes.push(written);
        reads.push(read);
        await keyspace.replace([]);
      } finally {
        await keyspace.close();
      }
    }
    rows.push(
      `| ${name} | ${per1000(median(writes)).toFixed(2)} s | ${per1000(median(reads)).toFixed(2)} s | ${median(opens).toFixed(2)} s |`,
    );
  }
} finally {
  await etcd.remove();
  await Promise.all([postgres.stop(), mariadb.stop()]);
  await supervisor.stopAll();
}
console.log(`\n${OBJECTS} objects of ${VALUE_BYTES} bytes, median of ${RUNS} runs, per 1,000 objects:\n`);
console.log('| driver | replace (write into empty) | snapshot (read at one revision) | open (kine gateway start) |');
console.log('|---|---|---|---|');
for (const row of rows) console.log(row);
