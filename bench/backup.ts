/**
 * Backup and restore seconds per 1,000 objects, per driver: a tenant key space of N keys (ConfigMap-sized values,
 * 1 KiB, not compressible to nothing) read at one revision into a backup file, and that file written into an empty
 * tenant on the same driver, through the keyspace module (kine for SQL) as `kamaji backup` and `kamaji restore` do.
 * The restore's fixed cost on a cluster (creating the TCP and waiting for its claim, then for Ready) is not in
 * these figures: test/integration/backup.test.ts and test/e2e/backup.test.ts print it. Median of 3 runs.
 * Run: node bench/backup.ts [keys]   (default 5000; needs postgresql-15 and mariadb-server installed)
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TenantControlPlaneSpec } from '../src/api/v1alpha1/tenant-control-plane.ts';
import { readBackupFile, writeBackupFile } from '../src/backup/file.ts';
import { encodeBackup } from '../src/backup/format.ts';
import type { ResolvedDataStore } from '../src/datastore/connections.ts';
import type { DatastoreDriver, TenantStorage } from '../src/datastore/driver.ts';
import { type KeyValue, openTenantKeyspace, type TenantKeyspace } from '../src/datastore/keyspace/keyspace.ts';
import { mysqlDriver } from '../src/datastore/mysql/driver.ts';
import { postgresDriver } from '../src/datastore/postgresql/driver.ts';
import { generatePassword } from '../src/datastore/sql/password.ts';
import { Supervisor } from '../src/process/supervisor.ts';
import { ensureComponent } from '../src/toolchain/ensure.ts';
import { startTestMariadb } from '../test/support/mariadb.ts';
import { startTestPostgres } from '../test/support/postgresql.ts';
import { standaloneEtcd } from '../test/support/standalone-etcd.ts';

const KEYS = Number(process.argv[2] ?? 5_000);
const RUNS = 3;
const PASSWORD = generatePassword();

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
}

function seed(): KeyValue[] {
  // Half random (not compressible), half repeated text, as a mix of Secrets and ConfigMaps is.
  return Array.from({ length: KEYS }, (_, index) => ({
    key: `configmaps/default/cm-${String(index).padStart(6, '0')}`,
    value: Buffer.concat([randomBytes(512), Buffer.alloc(512, `value ${index} `)]),
  }));
}

const spec = { kubernetes: { version: 'v1.35.4' } } as TenantControlPlaneSpec;

interface Row {
  driver: string;
  backup: number;
  restore: number;
  bytes: number;
}

async function measure(driver: string, store: ResolvedDataStore, admin: DatastoreDriver | undefined) {
  const kineBinary = (await ensureComponent('kine')).path;
  const storage = async (schema: string): Promise<TenantStorage> => {
    const tenant = { schema, username: `${schema}_user`, password: PASSWORD };
    const refusal = await admin?.ensureTenant(tenant, { uid: `uid-${schema}`, namespace: 'bench', name: schema });
    if (refusal) throw new Error(`${schema}: ${refusal.reason}`);
    return tenant;
  };
  const directory = await mkdtemp(join(tmpdir(), 'bak-bench-'));
  const open = async (schema: string) => openTenantKeyspace(store, await storage(schema), { kineBinary });
  /** Opened, used and closed: a test PostgreSQL has few connection slots for two kines' pools at once. */
  const using = async <T>(schema: string, work: (keyspace: TenantKeyspace) => Promise<T>): Promise<T> => {
    const keyspace = await open(schema);
    try {
      return await work(keyspace);
    } finally {
      await keyspace.close();
    }
  };
  const backups: number[] = [];
  const restores: number[] = [];
  let bytes = 0;
  try {
    await using('bench_source', (source) => source.replace(seed()));
    for (let run = 0; run < RUNS; run++) {
      const file = join(directory, `run-${run}.kamaji-backup`);
      let started = performance.now();
      const snapshot = await using('bench_source', (source) => source.snapshot());
      const encoded = encodeBackup(
        {
          createdAt: new Date().toISOString(),
          tenant: { namespace: 'bench', name: 'source', uid: 'uid' },
          kubernetesVersion: 'v1.35.4',
          dataStore: { name: driver, driver },
          schema: 'bench_source',
          revision: snapshot.revision,
          spec,
        },
        snapshot.entries,
      );
      await writeBackupFile(file, encoded.bytes);
      backups.push(performance.now() - started);
      bytes = encoded.bytes.length;

      started = performance.now();
      const { entries } = await readBackupFile(file);
      const count = await using(`bench_target_${run}`, async (target) => {
        await target.replace(entries);
        return target.count();
      });
      if (count !== KEYS) throw new Error(`${driver}: the restored count is ${count}, not ${KEYS}`);
      restores.push(performance.now() - started);
    }
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
  const perThousand = (ms: number) => ms / 1000 / (KEYS / 1000);
  return { driver, backup: perThousand(median(backups)), restore: perThousand(median(restores)), bytes };
}

const supervisor = new Supervisor();
const rows: Row[] = [];
try {
  const etcd = await standaloneEtcd(supervisor, 'bench-backup');
  const running = await etcd.start();
  rows.push(
    await measure(
      'etcd',
      { kind: 'etcd', root: running.root, ca: { certificatePem: '', privateKeyPem: '' } },
      undefined,
    ),
  );
  await etcd.remove();
  const postgres = await startTestPostgres(supervisor);
  const pgDriver = postgresDriver(postgres.administrator);
  rows.push(await measure('PostgreSQL', { kind: 'PostgreSQL', connection: postgres.administrator }, pgDriver));
  pgDriver.close();
  await postgres.stop();
  const mariadb = await startTestMariadb(supervisor);
  const myDriver = mysqlDriver(mariadb.administrator);
  rows.push(await measure('MySQL (MariaDB)', { kind: 'MySQL', connection: mariadb.administrator }, myDriver));
  myDriver.close();
  await mariadb.stop();
} finally {
  await supervisor.stopAll();
}

process.stdout.write(`\n${KEYS} keys of 1 KiB, median of ${RUNS} runs\n`);
process.stdout.write(`${'driver'.padEnd(18)}${'backup s/1000'.padEnd(16)}${'restore s/1000'.padEnd(16)}file bytes\n`);
for (const row of rows) {
  process.stdout.write(
    `${row.driver.padEnd(18)}${row.backup.toFixed(3).padEnd(16)}${row.restore.toFixed(3).padEnd(16)}${row.bytes}\n`,
  );
}
