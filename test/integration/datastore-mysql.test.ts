import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import type { DatastoreDriver } from '../../src/datastore/driver.ts';
import { connectionOptions, type MysqlConnection, withConnection } from '../../src/datastore/mysql/connection.ts';
import { mysqlDriver } from '../../src/datastore/mysql/driver.ts';
import { freePort } from '../../src/process/ports.ts';
import { Supervisor } from '../../src/process/supervisor.ts';
import { ADMINISTRATOR, CERTIFICATE_ADMINISTRATOR, startTestMariadb, type TestMariadb } from '../support/mariadb.ts';
import {
  added,
  assertCertificateAdministratorWorks,
  assertClaimCompletes,
  assertClaimsRefused,
  assertOneClaimWins,
  assertServerGone,
  assertUnreachableNamed,
  HOSTILE_NAMES,
  MALLORY,
  refusedWith,
  sharedHostileClaims,
  type Tenant,
  tenant,
} from '../support/sql-tenants.ts';

const ALICE = tenant('alice', 'uid-alice');
const BOB = tenant('bob', 'uid-bob');
/** Its database matches alice's `alice_db` if `_` were left a wildcard in alice's grant. */
const CAROL = tenant('carol', 'uid-carol', 'alice1db');

/** What MariaDB answers a refused privilege or login with. */
const DENIALS = new Set([
  'ER_DBACCESS_DENIED_ERROR',
  'ER_ACCESS_DENIED_ERROR',
  'ER_SPECIFIC_ACCESS_DENIED_ERROR',
  'ER_TABLEACCESS_DENIED_ERROR',
]);

describe('MySQL DataStore driver on a real MariaDB', () => {
  const supervisor = new Supervisor();
  let server: TestMariadb;
  let driver: DatastoreDriver;

  before(async () => {
    server = await startTestMariadb(supervisor);
    driver = mysqlDriver(server.administrator);
  });

  after(async () => {
    driver?.close();
    const pids = (await server?.processes()) ?? [];
    await server?.stop();
    await supervisor.stopAll();
    await assertServerGone(pids, server.dir);
  });

  const asTenant = (who: Tenant, password = who.storage.password): MysqlConnection => ({
    endpoints: [server.endpoint],
    caCertificatePem: server.ca.certificatePem,
    username: who.storage.username,
    password,
  });
  const asRoot = async <T>(work: (client: mysql.Connection) => Promise<T>): Promise<T> => {
    const client = await server.root();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  };
  const column = async (client: mysql.Connection, sql: string): Promise<string[]> => {
    const [rows] = await client.query<mysql.RowDataPacket[]>(sql);
    return rows.map((row) => String(Object.values(row)[0]));
  };

  /** Databases, accounts, database-level grants, every tenant's SHOW GRANTS and the owner records. */
  const catalog = () =>
    asRoot(async (client) => {
      const accounts = await column(client, "SELECT CONCAT(User, '@', Host) FROM mysql.user ORDER BY 1");
      const tenants = await column(
        client,
        "SELECT User FROM mysql.user WHERE Host = '%' AND User NOT LIKE 'kamaji%' ORDER BY 1",
      );
      const grants: string[] = [];
      for (const user of tenants) grants.push(...(await column(client, `SHOW GRANTS FOR ${client.escape(user)}@'%'`)));
      return {
        databases: await column(client, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA ORDER BY 1'),
        accounts,
        databaseGrants: await column(client, "SELECT CONCAT(Db, ':', User, '@', Host) FROM mysql.db ORDER BY 1"),
        grants,
        records: await column(client, "SELECT CONCAT(kind, ':', name, ':', uid) FROM kamaji.owners ORDER BY 1"),
      };
    });

  test('each tenant gets a database of its own, where its user can create kine’s table', async () => {
    for (const who of [ALICE, BOB, CAROL]) {
      assert.equal(await driver.ensureTenant(who.storage, who.owner), undefined);
      const [rows] = await withConnection(asTenant(who), who.storage.schema, async (client) => {
        await client.query('CREATE TABLE kine (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(630), value BLOB)');
        await client.query("INSERT INTO kine (name, value) VALUES ('/registry/x', 'y')");
        return client.query('SELECT name FROM kine');
      });
      assert.deepEqual(JSON.parse(JSON.stringify(rows)), [{ name: '/registry/x' }]);
    }
  });

  test('each tenant is denied the others’ databases (no wildcard), the owners, users, grants, plain TCP', async () => {
    const denials: string[] = [];
    for (const [me, others] of [
      [ALICE, [BOB, CAROL]],
      [BOB, [ALICE, CAROL]],
    ] as const) {
      const mine = asTenant(me);
      for (const other of others) {
        denials.push(await refusedWith(() => withConnection(mine, other.storage.schema, (c) => c.query('SELECT 1'))));
      }
      denials.push(await refusedWith(() => withConnection(mine, 'kamaji', (c) => c.query('SELECT 1'))));
      for (const statement of [
        'SELECT * FROM kamaji.owners',
        'SELECT * FROM mysql.user',
        'CREATE DATABASE stolen',
        'CREATE USER stolen',
        `ALTER USER '${others[0].storage.username}'@'%' IDENTIFIED BY 'x'`,
        `GRANT ALL PRIVILEGES ON \`${others[0].storage.schema}\`.* TO '${me.storage.username}'@'%'`,
      ]) {
        denials.push(await refusedWith(() => withConnection(mine, me.storage.schema, (c) => c.query(statement))));
      }
      denials.push(
        await refusedWith(() =>
          withConnection(asTenant(me, others[0].storage.password), me.storage.schema, (c) => c.query('SELECT 1')),
        ),
      );
    }
    assert.equal(denials.length, 20);
    assert.deepEqual(
      denials.filter((code) => !DENIALS.has(code)),
      [],
      denials.join(' '),
    );
    const plain = { ...connectionOptions(asTenant(ALICE), ALICE.storage.schema), ssl: undefined };
    // Without TLS: refused (the account requires SSL, the server secure transport).
    await assert.rejects(mysql.createConnection(plain), /insecure transport|Access denied/i);
  });

  test('claims of another tenant’s, the server’s or unmanaged identities are refused and change nothing', async () => {
    await asRoot(async (client) => {
      await client.query('CREATE DATABASE handmade_db');
      await client.query("CREATE USER 'handmade_user'@'localhost'");
    });
    const before = await catalog();
    const refusals = await assertClaimsRefused(driver, [
      ...sharedHostileClaims(ADMINISTRATOR, 'handmade_user'),
      ['mallory_db', 'root', 'ReservedName', 'spec.dataStoreUsername'],
      ['mallory_db', 'mariadb.sys', 'ReservedName', 'spec.dataStoreUsername'],
      ['mysql', 'mallory', 'ReservedName', 'spec.dataStoreSchema'],
      ['information_schema', 'mallory', 'ReservedName', 'spec.dataStoreSchema'],
    ]);
    assert.equal(refusals.length, 10);
    assert.deepEqual(refusals[1], {
      reason: 'OwnedByAnotherTenant',
      field: 'spec.dataStoreUsername',
      owner: BOB.owner,
    });
    assert.deepEqual(await catalog(), before);
    // A grant given by hand is never extended: refused until it is revoked.
    await asRoot((client) => client.query("GRANT SELECT ON mysql.* TO 'bob'@'%'"));
    const extended = await driver.ensureTenant(BOB.storage, BOB.owner);
    assert.equal(extended?.reason, 'ExistsOutsideKamaji');
    assert.match(JSON.stringify(extended), /holds more than its database: GRANT SELECT ON `mysql`/);
    await asRoot((client) => client.query("REVOKE SELECT ON mysql.* FROM 'bob'@'%'"));
    assert.equal(await driver.ensureTenant(BOB.storage, BOB.owner), undefined);
    await asRoot(async (client) => {
      await client.query('DROP DATABASE handmade_db');
      await client.query("DROP USER 'handmade_user'@'localhost'");
    });
  });

  test('a re-run changes nothing, and repairs a revoked grant, a changed password, a locked account', async () => {
    const settled = await catalog();
    assert.equal(await driver.ensureTenant(ALICE.storage, ALICE.owner), undefined);
    assert.deepEqual(await catalog(), settled);

    await asRoot(async (client) => {
      await client.query("REVOKE ALL PRIVILEGES ON `alice\\_db`.* FROM 'alice'@'%'");
      await client.query("ALTER USER 'alice'@'%' IDENTIFIED BY 'changed-by-someone' ACCOUNT LOCK");
    });
    const alice = asTenant(ALICE);
    assert.ok(DENIALS.has(await refusedWith(() => withConnection(alice, 'alice_db', (c) => c.query('SELECT 1')))));
    assert.equal(await driver.ensureTenant(ALICE.storage, ALICE.owner), undefined);
    assert.deepEqual(await catalog(), settled);
    const [rows] = await withConnection(alice, 'alice_db', (c) => c.query('SELECT COUNT(*) AS n FROM kine'));
    assert.deepEqual(JSON.parse(JSON.stringify(rows)), [{ n: 1 }]);

    const rotated = { ...ALICE.storage, password: 'alice-Password-2' };
    assert.equal(await driver.ensureTenant(rotated, ALICE.owner), undefined);
    assert.ok(DENIALS.has(await refusedWith(() => withConnection(alice, 'alice_db', (c) => c.query('SELECT 1')))));
    await withConnection(asTenant(ALICE, rotated.password), 'alice_db', (c) => c.query('SELECT 1'));
    assert.equal(await driver.ensureTenant(ALICE.storage, ALICE.owner), undefined);
  });

  test('hostile names are one identifier each: created literally, nothing else touched', async () => {
    const hostile = HOSTILE_NAMES;
    const before = await catalog();
    assert.equal(await driver.ensureTenant(hostile.storage, hostile.owner), undefined);
    const during = await catalog();
    assert.deepEqual(added(before.databases, during.databases), [hostile.storage.schema]);
    assert.deepEqual(added(before.accounts, during.accounts), [`${hostile.storage.username}@%`]);
    await withConnection(asTenant(hostile), hostile.storage.schema, (c) => c.query('SELECT 1'));
    assert.deepEqual(await driver.deleteTenant(hostile.storage, hostile.owner), { deletedKeys: 0, notOwned: [] });
    assert.deepEqual(await catalog(), before);
  });

  test('deleteTenant removes only what its owner owns, ends the tenant’s sessions, and can run again', async () => {
    const before = await catalog();
    assert.deepEqual(await driver.deleteTenant(ALICE.storage, MALLORY), {
      deletedKeys: 0,
      notOwned: ['spec.dataStoreUsername', 'spec.dataStoreSchema'],
    });
    assert.deepEqual(await catalog(), before);

    const session = await mysql.createConnection(connectionOptions(asTenant(BOB), BOB.storage.schema));
    session.on('error', () => undefined);
    assert.deepEqual(await driver.deleteTenant(BOB.storage, BOB.owner), { deletedKeys: 0, notOwned: [] });
    await assert.rejects(session.query('SELECT 1'));
    session.destroy();
    const afterwards = await catalog();
    assert.deepEqual(added(afterwards.databases, before.databases), ['bob_db']);
    assert.deepEqual(added(afterwards.accounts, before.accounts), ['bob@%']);
    assert.deepEqual(added(afterwards.records, before.records), ['database:bob_db:uid-bob', 'user:bob:uid-bob']);
    assert.equal(afterwards.records.length, before.records.length - 2);
    await withConnection(asTenant(ALICE), 'alice_db', (c) => c.query('SELECT COUNT(*) FROM kine'));
    assert.deepEqual(await driver.deleteTenant(BOB.storage, BOB.owner), { deletedKeys: 0, notOwned: [] });
    assert.deepEqual(await catalog(), afterwards);
    for (const who of [ALICE, CAROL]) {
      assert.deepEqual(await driver.deleteTenant(who.storage, who.owner), { deletedKeys: 0, notOwned: [] });
    }
    const empty = await catalog();
    assert.deepEqual(empty.records, []);
    assert.deepEqual(empty.databaseGrants, []);
    assert.deepEqual(empty.databases, ['information_schema', 'kamaji', 'mysql', 'performance_schema', 'sys']);
  });

  test('a claim whose database and user are gone is completed by its owner and still refused to others', async () => {
    await assertClaimCompletes(
      driver,
      (who) =>
        asRoot(async (client) => {
          await client.query(`DROP DATABASE ${who.storage.schema}`);
          await client.query(`DROP USER '${who.storage.username}'@'%'`);
        }),
      (who) => withConnection(asTenant(who), who.storage.schema, (c) => c.query('SELECT 1')),
    );
  });

  test('two operators claiming the same names at once: one wins, the other is refused', async () => {
    const other = mysqlDriver(server.administrator);
    try {
      await assertOneClaimWins(driver, other);
    } finally {
      other.close();
    }
  });

  test('an administrator authenticated by client certificate works the same', async () => {
    await assertCertificateAdministratorWorks(
      mysqlDriver(server.certificateAdministrator),
      CERTIFICATE_ADMINISTRATOR,
      (who) => withConnection(asTenant(who), who.storage.schema, (c) => c.query('SELECT 1')),
    );
  });

  test('check() names the endpoint of a server that does not answer', async () => {
    const unused = await freePort();
    await assertUnreachableNamed(
      (endpoint) => mysqlDriver({ ...server.administrator, endpoints: [endpoint] }),
      'MySQL',
      unused,
    );
    await driver.check();
  });
});
