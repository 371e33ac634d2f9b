import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import { API_VERSION } from '../../src/api/v1alpha1/group-version.ts';
import { tenantControlPlaneResource } from '../../src/api/v1alpha1/resources.ts';
import { backupTenant } from '../../src/backup/backup.ts';
import { readBackupFile } from '../../src/backup/file.ts';
import { decodeBackup } from '../../src/backup/format.ts';
import { restoreTenant } from '../../src/backup/restore.ts';
import {
  RESTORE_REPLICAS_ANNOTATION,
  RESTORED_FROM_ANNOTATION,
  restoredTenantControlPlane,
} from '../../src/backup/restore-plan.ts';
import { locateTenantStorage } from '../../src/backup/tenant-storage.ts';
import { KAMAJI_NAMESPACE } from '../../src/cluster/kamaji-install.ts';
import { loadClusterAccess } from '../../src/controller/cluster-access.ts';
import { KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { type KeyValue, openTenantKeyspace } from '../../src/datastore/keyspace/keyspace.ts';
import { freePort } from '../../src/process/ports.ts';
import { Supervisor } from '../../src/process/supervisor.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { createDataStore } from '../support/kamaji-api.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { startTestMariadb, type TestMariadb } from '../support/mariadb.ts';
import { NAMESPACE, useOperator } from '../support/operator.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgresql.ts';

/** ConfigMaps seeded into the source tenant, as its API server would have written them. */
const OBJECTS = 1_000;

/** What the source's API server keeps besides its objects: its Node, heartbeat and endpoint lease, and an Event. */
const MACHINE_KEYS: KeyValue[] = [
  { key: 'minions/source-worker-1', value: Buffer.from('node') },
  { key: 'leases/kube-node-lease/source-worker-1', value: Buffer.from('heartbeat') },
  { key: 'masterleases/10.0.0.7', value: Buffer.from('endpoint'), ttlSeconds: 600 },
];
const EVENT: KeyValue = { key: 'events/default/app.1', value: Buffer.from('event'), ttlSeconds: 3_000 };

function seed(): KeyValue[] {
  const objects = Array.from({ length: OBJECTS }, (_, index) => ({
    key: `configmaps/default/cm-${String(index).padStart(4, '0')}`,
    // Not text: values are protobuf on a real tenant.
    value: Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), Buffer.from(`object ${index}`)]),
  }));
  return [...objects, EVENT, ...MACHINE_KEYS];
}

const byKey = (entries: readonly KeyValue[]) =>
  new Map(entries.map(({ key, value }) => [key, value.toString('hex')] as const));

describe('backup and restore of a tenant key space, across drivers, with the operator', () => {
  const operator = useOperator();
  const supervisor = new Supervisor();
  let postgres: TestPostgres;
  let mariadb: TestMariadb;
  let client: KubeClient;
  let kineBinary = '';
  let directory = '';

  /** A SQL DataStore `name` on `server`: its CA and administrator (basicAuth) in a Secret of the same name. */
  async function createSqlDataStore(name: string, driver: 'PostgreSQL' | 'MySQL', server: TestPostgres | TestMariadb) {
    const reference = (keyPath: string) => ({ secretReference: { name, namespace: KAMAJI_NAMESPACE, keyPath } });
    const base64 = (text: string) => Buffer.from(text).toString('base64');
    const { username, password } = server.administrator;
    await createDataStore(
      operator().config,
      {
        metadata: { name, namespace: KAMAJI_NAMESPACE },
        data: {
          'ca.crt': base64(server.ca.certificatePem),
          username: base64(username ?? ''),
          password: base64(password ?? ''),
        },
      },
      {
        apiVersion: API_VERSION,
        kind: 'DataStore',
        metadata: { name },
        spec: {
          driver,
          endpoints: [server.endpoint],
          tlsConfig: { certificateAuthority: { certificate: reference('ca.crt') } },
          basicAuth: { username: reference('username'), password: reference('password') },
        },
      } as DataStore,
    );
  }

  before(async () => {
    kineBinary = (await ensureComponent('kine')).path;
    directory = await mkdtemp(join(tmpdir(), 'bak-integration-'));
    [postgres, mariadb] = await Promise.all([startTestPostgres(supervisor), startTestMariadb(supervisor)]);
    await createSqlDataStore('pg', 'PostgreSQL', postgres);
    await createSqlDataStore('my', 'MySQL', mariadb);
    client = new KubeClient(loadClusterAccess(operator().harness.kubeconfigPath));
  });

  after(async () => {
    client?.close();
    await Promise.all([postgres?.stop(), mariadb?.stop()]);
    await supervisor.stopAll();
    await rm(directory, { recursive: true, force: true });
  });

  /** Every key of a tenant, read through the keyspace module as the tenant's own storage. */
  async function keysOf(name: string): Promise<KeyValue[]> {
    const { resolved, storage } = await locateTenantStorage(client, NAMESPACE, name);
    const keyspace = await openTenantKeyspace(resolved, storage, { kineBinary });
    try {
      return (await keyspace.snapshot()).entries;
    } finally {
      await keyspace.close();
    }
  }

  test('etcd → PostgreSQL → etcd, and → MySQL: the same objects under new schemas, machine state left out, a second restore refused', async () => {
    await operator().createTenant('source', await freePort());
    const source = await operator().waitProvisioned('source');
    const seeded = seed();
    const location = await locateTenantStorage(client, NAMESPACE, 'source');
    const keyspace = await openTenantKeyspace(location.resolved, location.storage);
    await keyspace.replace(seeded).finally(() => keyspace.close());

    const started = performance.now();
    const { header, bytes } = await backupTenant(client, { namespace: NAMESPACE, name: 'source' });
    const backupSeconds = (performance.now() - started) / 1000;
    assert.equal(header.objectCount, seeded.length);
    assert.deepEqual(header.tenant, { namespace: NAMESPACE, name: 'source', uid: source.metadata.uid });
    assert.deepEqual(header.dataStore, { name: 'default', driver: 'etcd' });
    assert.equal(header.schema, source.status?.storage?.setup?.schema);
    assert.ok(header.revision > 0, `revision ${header.revision}`);
    const backup = decodeBackup(bytes, 'source backup');
    assert.deepEqual(byKey(backup.entries), byKey(seeded));
    assert.ok(
      (backup.entries.find(({ key }) => key === EVENT.key)?.ttlSeconds ?? 0) > 2_900,
      "the event's lease TTL is kept",
    );

    const restoreStarted = performance.now();
    const lines: string[] = [];
    const restored = await restoreTenant(
      client,
      backup,
      { namespace: NAMESPACE, name: 'copy', dataStore: 'pg', port: await freePort() },
      { keyspace: { kineBinary }, waitReady: false, report: (line) => lines.push(line) },
    );
    const restoreSeconds = (performance.now() - restoreStarted) / 1000;
    assert.equal(restored.written, OBJECTS + 1);
    assert.deepEqual(Object.fromEntries(restored.leftOut), {
      "the source's Nodes": 1,
      'Node heartbeats': 1,
      "the source API servers' endpoint leases": 1,
    });
    const copy = await operator().readTenant('copy');
    assert.equal(copy.status?.storage?.dataStoreName, 'pg');
    assert.notEqual(copy.spec.dataStoreSchema, header.schema, 'the copy has a schema of its own');
    assert.equal(copy.spec.controlPlane.deployment?.replicas, 1, 'the replicas of the backup are back');
    assert.equal(copy.metadata.annotations?.[RESTORE_REPLICAS_ANNOTATION], undefined);
    assert.match(copy.metadata.annotations?.[RESTORED_FROM_ANNOTATION] ?? '', /^tenants\/source revision \d+ sha256:/);
    const wanted = seeded.filter(({ key }) => !MACHINE_KEYS.some((machine) => machine.key === key));
    assert.deepEqual(byKey(await keysOf('copy')), byKey(wanted), 'the copy holds exactly the objects');
    assert.deepEqual(byKey(await keysOf('source')), byKey(seeded), 'the source is untouched');

    await assert.rejects(
      restoreTenant(client, backup, { namespace: NAMESPACE, name: 'copy' }, { waitReady: false }),
      /tenants\/copy was already restored from this backup: restore creates a new tenant: choose another --into/,
    );

    // Back from PostgreSQL (read through kine) into etcd.
    const second = await backupTenant(client, { namespace: NAMESPACE, name: 'copy' }, { keyspace: { kineBinary } });
    assert.deepEqual(second.header.dataStore, { name: 'pg', driver: 'PostgreSQL' });
    await restoreTenant(
      client,
      decodeBackup(second.bytes, 'copy backup'),
      { namespace: NAMESPACE, name: 'third', dataStore: 'default', port: await freePort() },
      { waitReady: false },
    );
    assert.deepEqual(byKey(await keysOf('third')), byKey(wanted));

    // And into MySQL, then backed up from there (through kine).
    await restoreTenant(
      client,
      backup,
      { namespace: NAMESPACE, name: 'fourth', dataStore: 'my', port: await freePort() },
      { keyspace: { kineBinary }, waitReady: false },
    );
    const fourth = await backupTenant(client, { namespace: NAMESPACE, name: 'fourth' }, { keyspace: { kineBinary } });
    assert.deepEqual(fourth.header.dataStore, { name: 'my', driver: 'MySQL' });
    assert.deepEqual(byKey(decodeBackup(fourth.bytes, 'fourth backup').entries), byKey(wanted));
    process.stderr.write(
      `# ${seeded.length} keys: backup ${backupSeconds.toFixed(2)} s, restore (create, claim, write) ${restoreSeconds.toFixed(2)} s; ${bytes.length} bytes\n`,
    );
  });

  test('a restore interrupted after creating the TCP and writing part of the keys resumes and ends exact', async () => {
    const { bytes } = await backupTenant(client, { namespace: NAMESPACE, name: 'source' });
    const backup = decodeBackup(bytes, 'source backup');
    const target = { namespace: NAMESPACE, name: 'resumed', dataStore: 'default', port: await freePort() };
    // What a restore killed midway leaves: the sleeping TCP, and a third of the keys plus one foreign to the backup.
    await client.request('POST', resourcePath(tenantControlPlaneResource, { namespace: NAMESPACE }), {
      body: restoredTenantControlPlane(backup.header, target),
    });
    await operator().waitTenant(
      'resumed',
      'asleep',
      (tcp) => tcp.status?.kubernetesResources?.version?.status === 'Sleeping',
    );
    const partial = await locateTenantStorage(client, NAMESPACE, 'resumed');
    const keyspace = await openTenantKeyspace(partial.resolved, partial.storage);
    await keyspace
      .replace([...backup.entries.slice(0, 300), { key: 'configmaps/default/stray', value: Buffer.from('x') }])
      .finally(() => keyspace.close());

    const lines: string[] = [];
    await restoreTenant(client, backup, target, { waitReady: false, report: (line) => lines.push(line) });
    assert.match(lines[0] ?? '', /resuming the restore into TenantControlPlane tenants\/resumed/);
    const wanted = seed().filter(({ key }) => !MACHINE_KEYS.some((machine) => machine.key === key));
    assert.deepEqual(byKey(await keysOf('resumed')), byKey(wanted));
    const resumed = await operator().readTenant('resumed');
    assert.equal(resumed.metadata.annotations?.[RESTORE_REPLICAS_ANNOTATION], undefined);
    assert.equal(resumed.spec.controlPlane.deployment?.replicas, 1);
  });

  test('the CLI: backups into a directory pruned to --keep, inspect, and a truncated file or a missing DataStore refused before anything is created', async () => {
    const kubeconfig = `--kubeconfig=${operator().harness.kubeconfigPath}`;
    const backups = join(directory, 'backups');
    for (let run = 0; run < 3; run++) {
      const result = await kamaji('backup', 'source', '-n', NAMESPACE, '-o', `${backups}/`, '--keep', '2', kubeconfig);
      assert.equal(result.code, 0, printed(result));
      assert.match(result.stdout, /: 1004 keys of tenants\/source at revision \d+ of DataStore default \(etcd\)/);
      await new Promise((resolve) => setTimeout(resolve, 1_100)); // names are stamped to the second
    }
    const files = (await readdir(backups)).sort();
    assert.equal(files.length, 2, files.join(', '));
    const newest = join(backups, files[1] ?? '');
    assert.equal((await readBackupFile(newest)).header.objectCount, seed().length);

    const inspected = await kamaji('backup', 'inspect', newest);
    assert.equal(inspected.code, 0, printed(inspected));
    assert.equal(JSON.parse(inspected.stdout).objectCount, seed().length);

    const truncated = join(directory, 'truncated.kamaji-backup');
    const whole = await readFile(newest);
    await writeFile(truncated, whole.subarray(0, Math.floor(whole.length * 0.8)));
    const refused = await kamaji('restore', truncated, '--into', 'never', '-n', NAMESPACE, kubeconfig);
    assert.equal(refused.code, 1, printed(refused));
    assert.match(refused.stderr, /truncated\.kamaji-backup: the file is truncated .*intact copy/);
    const nowhere = await kamaji(
      'restore',
      newest,
      '--into',
      'never',
      '-n',
      NAMESPACE,
      '--datastore',
      'nope',
      kubeconfig,
    );
    assert.equal(nowhere.code, 1, printed(nowhere));
    assert.match(nowhere.stderr, /DataStore nope does not exist: pass --datastore with one that does/);
    await assert.rejects(operator().readTenant('never'), (error: { code?: number }) => error.code === 404);
  });
});
