import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import type { Etcd3 } from 'etcd3';
import type { ResolvedDataStore } from '../../src/datastore/connections.ts';
import type { TenantStorage } from '../../src/datastore/driver.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { type KeyValue, openTenantKeyspace } from '../../src/datastore/keyspace/keyspace.ts';
import { startKineGateway } from '../../src/datastore/keyspace/kine-gateway.ts';
import { mysqlDriver } from '../../src/datastore/mysql/driver.ts';
import { postgresDriver } from '../../src/datastore/postgresql/driver.ts';
import { generatePassword } from '../../src/datastore/sql/password.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { startTestMariadb, type TestMariadb } from '../support/mariadb.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgresql.ts';
import { type StandaloneEtcd, standaloneEtcd } from '../support/standalone-etcd.ts';

/** More keys than one page (500), so paging at one revision is exercised. */
const KEYS = 1_200;
const OWNER = { uid: 'uid-keyspace', namespace: 'tenants', name: 'keyspace' };

function seedEntries(): KeyValue[] {
  const entries: KeyValue[] = [];
  for (let index = 0; index < KEYS; index++) {
    entries.push({ key: `configmaps/default/cm-${String(index).padStart(5, '0')}`, value: Buffer.from(`v${index}`) });
  }
  // Not text: values are protobuf on a real tenant.
  entries.push({ key: 'secrets/kube-system/binary', value: Buffer.from([0, 255, 1, 254, 10, 13]) });
  return entries;
}

function byKey(entries: readonly KeyValue[]): Map<string, string> {
  return new Map(entries.map((entry) => [entry.key, entry.value.toString('hex')]));
}

describe('a tenant key space moved between etcd, PostgreSQL and MySQL through the keyspace module', () => {
  const supervisor = new Supervisor();
  let etcd: StandaloneEtcd;
  let etcdStore: ResolvedDataStore;
  let root: Etcd3;
  let postgres: TestPostgres;
  let mariadb: TestMariadb;
  let kineBinary = '';
  const storage = (schema: string): TenantStorage => ({ schema, username: `${schema}_user`, password: PASSWORD });
  const PASSWORD = generatePassword();

  before(async () => {
    kineBinary = (await ensureComponent('kine')).path;
    etcd = await standaloneEtcd(supervisor, 'keyspace');
    const running = await etcd.start();
    etcdStore = { kind: 'etcd', root: running.root, ca: { certificatePem: '', privateKeyPem: '' } };
    root = connectEtcd(running.root);
    [postgres, mariadb] = await Promise.all([startTestPostgres(supervisor), startTestMariadb(supervisor)]);
    for (const driver of [postgresDriver(postgres.administrator), mysqlDriver(mariadb.administrator)]) {
      try {
        assert.equal(await driver.ensureTenant(storage('moved'), OWNER), undefined);
      } finally {
        driver.close();
      }
    }
  });

  after(async () => {
    root?.close();
    await etcd?.remove();
    await Promise.all([postgres?.stop(), mariadb?.stop()]);
    await supervisor.stopAll();
  });

  const sql = (kind: 'PostgreSQL' | 'MySQL'): ResolvedDataStore => ({
    kind,
    connection: kind === 'PostgreSQL' ? postgres.administrator : mariadb.administrator,
  });

  test('etcd → PostgreSQL → MySQL → etcd under another schema: the same keys and values, neighbours untouched', async () => {
    const seeded = seedEntries();
    const source = await openTenantKeyspace(etcdStore, storage('alpha'), { kineBinary });
    try {
      assert.deepEqual(await source.replace(seeded), { written: KEYS + 1, deleted: 0, unchanged: 0 });
      // `/alphabet/` starts with `/alpha`: the trailing slash of the prefix keeps it out.
      await root.put('/alphabet/configmaps/default/x').value('neighbour');
      await root.put('/alpha').value('no slash');
      const snapshot = await source.snapshot();
      assert.equal(snapshot.entries.length, KEYS + 1);
      assert.deepEqual(byKey(snapshot.entries), byKey(seeded));
      let entries = snapshot.entries;
      for (const [store, schema] of [
        [sql('PostgreSQL'), 'moved'],
        [sql('MySQL'), 'moved'],
        [etcdStore, 'beta'],
      ] as const) {
        const target = await openTenantKeyspace(store, storage(schema), { kineBinary });
        try {
          assert.equal((await target.replace(entries)).written, KEYS + 1, `${store.kind} written`);
          entries = (await target.snapshot()).entries;
          assert.deepEqual(byKey(entries), byKey(seeded), `${store.kind} holds the same keys and values`);
          assert.equal(await target.count(), KEYS + 1);
        } finally {
          await target.close();
        }
      }
      assert.equal((await root.get('/alphabet/configmaps/default/x').string()) ?? '', 'neighbour');
      assert.equal((await root.get('/alpha').string()) ?? '', 'no slash');
    } finally {
      await source.close();
    }
  });

  test('replace is re-runnable and makes the key space exactly the entries given', async () => {
    for (const store of [etcdStore, sql('PostgreSQL')]) {
      const keyspace = await openTenantKeyspace(store, storage(store.kind === 'etcd' ? 'gamma' : 'moved'), {
        kineBinary,
      });
      try {
        const seeded = seedEntries().slice(0, 50);
        await keyspace.replace(seeded);
        assert.deepEqual(await keyspace.replace(seeded), { written: 0, deleted: 0, unchanged: 50 }, store.kind);
        const changed = [...seeded.slice(10), { key: 'extra', value: Buffer.from('x') }];
        const first = changed[0];
        if (first) first.value = Buffer.from('changed');
        assert.deepEqual(await keyspace.replace(changed), { written: 2, deleted: 10, unchanged: 39 }, store.kind);
        assert.deepEqual(byKey((await keyspace.snapshot()).entries), byKey(changed), store.kind);
        await keyspace.replace([]);
        assert.equal(await keyspace.count(), 0, `${store.kind}: emptied`);
      } finally {
        await keyspace.close();
      }
    }
  });

  test('a snapshot is one revision, even while a writer changes keys on different pages together', async () => {
    const keyspace = await openTenantKeyspace(etcdStore, storage('delta'), { kineBinary });
    const pair = ['aaa/first', 'zzz/last'].map((key) => `/delta/${key}`);
    const start = Buffer.from('0');
    await keyspace.replace([...seedEntries(), { key: 'aaa/first', value: start }, { key: 'zzz/last', value: start }]);
    let writing = true;
    let generation = 0;
    const writer = (async () => {
      while (writing) {
        generation++;
        const value = String(generation);
        await root
          .if(pair[0] ?? '', 'Create', '>', -1)
          .then(...pair.map((key) => root.put(key).value(value)))
          .commit();
      }
    })();
    try {
      for (let round = 0; round < 5; round++) {
        const entries = byKey((await keyspace.snapshot()).entries);
        const [first, last] = ['aaa/first', 'zzz/last'].map((key) => entries.get(key));
        assert.ok(first, 'the pair was read');
        assert.equal(first, last, `round ${round}: both keys of one transaction seen at the same revision`);
      }
    } finally {
      writing = false;
      await writer;
      await keyspace.close();
    }
  });

  test('leased keys keep a lease where they are written; expired ones are not copied', async () => {
    const source = await openTenantKeyspace(etcdStore, storage('epsilon'), { kineBinary });
    const target = await openTenantKeyspace(sql('MySQL'), storage('moved'), { kineBinary });
    try {
      const lease = root.lease(600, { autoKeepAlive: false });
      await lease.put('/epsilon/events/default/e1').value('event');
      await root.put('/epsilon/pods/default/p1').value('pod');
      const snapshot = await source.snapshot();
      const event = snapshot.entries.find((entry) => entry.key === 'events/default/e1');
      assert.ok(event?.ttlSeconds && event.ttlSeconds > 500 && event.ttlSeconds <= 600, 'the lease TTL was read');
      assert.equal(snapshot.entries.find((entry) => entry.key === 'pods/default/p1')?.ttlSeconds, undefined);
      await target.replace(snapshot.entries);
      const back = await source.replace((await target.snapshot()).entries);
      assert.equal(back.written, 1, 'only the leased key is written again (it takes a new lease)');
      const kv = (await root.getAll().prefix('/epsilon/events/').exec()).kvs[0];
      assert.notEqual(kv?.lease, '0', 'written back under a lease');
      await lease.revoke();
    } finally {
      await Promise.all([source.close(), target.close()]);
    }
  });

  test('the kine gateway answers only its own client certificate and leaves no process or file', async () => {
    const before = (await readdir(tmpdir())).filter((name) => name.startsWith('kamaji-kine-'));
    const gateway = await startKineGateway({
      binary: kineBinary,
      endpoint: () => `postgres://moved_user:${PASSWORD}@${postgres.endpoint}/moved?sslmode=verify-full`,
      datastoreCaPem: postgres.ca.certificatePem,
    });
    let denials = 0;
    const otherCa = await createCertificateAuthority('not-the-gateway', { validityDays: 1 });
    const otherClient = await issueCertificate(otherCa, {
      commonName: 'kamaji',
      usages: ['clientAuth'],
      validityDays: 1,
    });
    for (const stranger of [
      connectEtcd({ endpoints: [gateway.address], caCertificatePem: gateway.caCertificatePem }),
      connectEtcd({
        endpoints: [gateway.address],
        caCertificatePem: gateway.caCertificatePem,
        clientCertificatePem: otherClient.certificatePem,
        clientKeyPem: otherClient.privateKeyPem,
      }),
    ]) {
      await assert.rejects(stranger.kv.range({ key: Buffer.from('/') }));
      denials++;
      stranger.close();
    }
    assert.equal(denials, 2);
    assert.ok(isAlive(gateway.pid));
    await gateway.close();
    assert.equal(isAlive(gateway.pid), false, 'kine stopped');
    const afterwards = (await readdir(tmpdir())).filter((name) => name.startsWith('kamaji-kine-'));
    assert.deepEqual(afterwards, before, 'its certificates removed');
  });
});
