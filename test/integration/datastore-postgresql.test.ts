import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import type { DatastoreDriver } from '../../src/datastore/driver.ts';
import { type PostgresConnection, withClient } from '../../src/datastore/postgresql/connection.ts';
import { postgresDriver } from '../../src/datastore/postgresql/driver.ts';
import { freePort } from '../../src/process/ports.ts';
import { Supervisor } from '../../src/process/supervisor.ts';
import {
  ADMINISTRATOR,
  CERTIFICATE_ADMINISTRATOR,
  startTestPostgres,
  type TestPostgres,
} from '../support/postgresql.ts';
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

/** SQLSTATEs of the refusals: a privilege missing, and a password that does not authenticate. */
const INSUFFICIENT_PRIVILEGE = '42501';
const INVALID_PASSWORD = '28P01';

describe('PostgreSQL DataStore driver on a real PostgreSQL 15', () => {
  const supervisor = new Supervisor();
  let server: TestPostgres;
  let driver: DatastoreDriver;
  let pids: number[] = [];

  before(async () => {
    server = await startTestPostgres(supervisor);
    driver = postgresDriver(server.administrator);
  });

  after(async () => {
    driver?.close();
    pids = (await server?.processes()) ?? [];
    await server?.stop();
    await supervisor.stopAll();
    await assertServerGone(pids, server.dir);
  });

  /** The tenant's own connection to `database`, by password, over TLS. */
  const asTenant = (who: Tenant, password = who.storage.password): PostgresConnection => ({
    endpoints: [server.endpoint],
    caCertificatePem: server.ca.certificatePem,
    username: who.storage.username,
    password,
  });
  const superuser = <T>(database: string, work: (client: pg.Client) => Promise<T>) =>
    withClient(server.postgres, database, work);

  /** Everything a tenant leaves in the cluster: databases, roles and owner records, sorted. */
  const catalog = () =>
    superuser('kamaji', async (client) => ({
      databases: (await client.query<{ n: string }>('SELECT datname AS n FROM pg_database ORDER BY 1')).rows.map(
        (row) => row.n,
      ),
      roles: (
        await client.query<{ n: string }>(
          "SELECT rolname AS n FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' ORDER BY 1",
        )
      ).rows.map((row) => row.n),
      records: (
        await client.query<{ r: string }>("SELECT kind || ':' || name || ':' || uid AS r FROM owners ORDER BY 1")
      ).rows.map((row) => row.r),
      acl: (
        await client.query<{ r: string }>(
          "SELECT datname || '=' || coalesce(datacl::text, '') || ':' || pg_get_userbyid(datdba) AS r FROM pg_database ORDER BY 1",
        )
      ).rows.map((row) => row.r),
    }));

  test('each tenant gets a database of its own, which its role can connect to and create kine’s table in', async () => {
    for (const who of [ALICE, BOB]) {
      assert.equal(await driver.ensureTenant(who.storage, who.owner), undefined);
      const rows = await withClient(asTenant(who), who.storage.schema, async (client) => {
        await client.query('CREATE TABLE kine (id bigserial PRIMARY KEY, name text NOT NULL, value bytea)');
        await client.query("INSERT INTO kine (name, value) VALUES ('/registry/x', 'y')");
        return (await client.query('SELECT name FROM kine')).rows;
      });
      assert.deepEqual(rows, [{ name: '/registry/x' }]);
    }
    const roles = await superuser('postgres', (client) =>
      client.query(
        `SELECT rolname, rolsuper, rolcreatedb, rolcreaterole, rolreplication, rolbypassrls, rolcanlogin
           FROM pg_roles WHERE rolname IN ('alice', 'bob') ORDER BY 1`,
      ),
    );
    for (const row of roles.rows) {
      assert.deepEqual(
        { ...row, rolname: undefined },
        {
          rolname: undefined,
          rolsuper: false,
          rolcreatedb: false,
          rolcreaterole: false,
          rolreplication: false,
          rolbypassrls: false,
          rolcanlogin: true,
        },
      );
    }
  });

  test('each tenant is denied the other’s database, the owners, new databases and roles, and plain TCP', async () => {
    const denials: string[] = [];
    for (const [me, other] of [
      [ALICE, BOB],
      [BOB, ALICE],
    ] as const) {
      const mine = asTenant(me);
      denials.push(await refusedWith(() => withClient(mine, other.storage.schema, (c) => c.query('SELECT 1'))));
      denials.push(await refusedWith(() => withClient(mine, 'kamaji', (c) => c.query('SELECT * FROM owners'))));
      for (const statement of [
        'CREATE DATABASE stolen',
        'CREATE ROLE stolen',
        `ALTER ROLE ${other.storage.username} PASSWORD 'x'`,
        `GRANT ${other.storage.username} TO ${me.storage.username}`,
      ]) {
        denials.push(await refusedWith(() => withClient(mine, me.storage.schema, (c) => c.query(statement))));
      }
      // The other tenant's password does not open this tenant's database either.
      denials.push(
        await refusedWith(() =>
          withClient(asTenant(me, other.storage.password), me.storage.schema, (c) => c.query('SELECT 1')),
        ),
      );
    }
    assert.deepEqual(denials.slice(0, 6), [
      INSUFFICIENT_PRIVILEGE,
      INSUFFICIENT_PRIVILEGE,
      INSUFFICIENT_PRIVILEGE,
      INSUFFICIENT_PRIVILEGE,
      INSUFFICIENT_PRIVILEGE,
      INSUFFICIENT_PRIVILEGE,
    ]);
    assert.equal(denials[6], INVALID_PASSWORD);
    assert.equal(denials.length, 14);
    assert.deepEqual(denials.slice(7), denials.slice(0, 7));
    // Without TLS there is no pg_hba.conf line at all.
    const plain = new pg.Client({
      host: '127.0.0.1',
      port: Number(server.endpoint.split(':')[1]),
      user: ALICE.storage.username,
      password: ALICE.storage.password,
      database: ALICE.storage.schema,
      ssl: false,
    });
    await assert.rejects(plain.connect(), /no pg_hba.conf entry/);
  });

  test('claims of another tenant’s, the server’s or unmanaged identities are refused and change nothing', async () => {
    await superuser('postgres', async (client) => {
      await client.query('CREATE DATABASE handmade_db');
      await client.query('CREATE ROLE handmade_role LOGIN');
    });
    const before = await catalog();
    const refusals = await assertClaimsRefused(driver, [
      ...sharedHostileClaims(ADMINISTRATOR, 'handmade_role'),
      ['mallory_db', 'postgres', 'ReservedName', 'spec.dataStoreUsername'],
      ['mallory_db', 'pg_read_all_data', 'ReservedName', 'spec.dataStoreUsername'],
      ['postgres', 'mallory', 'ReservedName', 'spec.dataStoreSchema'],
      ['template1', 'mallory', 'ReservedName', 'spec.dataStoreSchema'],
    ]);
    assert.equal(refusals.length, 10);
    assert.deepEqual(refusals[0], {
      reason: 'OwnedByAnotherTenant',
      field: 'spec.dataStoreSchema',
      owner: ALICE.owner,
    });
    assert.deepEqual(await catalog(), before);
    // A membership given by hand is never extended: refused until it is revoked.
    await superuser('postgres', (client) => client.query('GRANT pg_read_all_data TO bob'));
    assert.equal((await driver.ensureTenant(BOB.storage, BOB.owner))?.reason, 'ExistsOutsideKamaji');
    await superuser('postgres', (client) => client.query('REVOKE pg_read_all_data FROM bob'));
    assert.equal(await driver.ensureTenant(BOB.storage, BOB.owner), undefined);
    await superuser('postgres', async (client) => {
      await client.query('DROP DATABASE handmade_db');
      await client.query('DROP ROLE handmade_role');
    });
  });

  test('a re-run changes nothing, and repairs a revoked grant, a changed password, raised attributes', async () => {
    const settled = await catalog();
    const verifier = () =>
      superuser('postgres', async (client) => {
        const { rows } = await client.query<{ p: string }>(
          "SELECT rolpassword AS p FROM pg_authid WHERE rolname = 'alice'",
        );
        return rows[0]?.p;
      });
    const storedVerifier = await verifier();
    assert.equal(await driver.ensureTenant(ALICE.storage, ALICE.owner), undefined);
    assert.deepEqual(await catalog(), settled);
    assert.equal(await verifier(), storedVerifier, 'an unchanged password is not set again');

    await superuser('postgres', async (client) => {
      await client.query('REVOKE CONNECT ON DATABASE alice_db FROM alice');
      await client.query('GRANT CONNECT ON DATABASE alice_db TO PUBLIC');
      await client.query("ALTER ROLE alice PASSWORD 'changed-by-someone' CREATEDB CREATEROLE");
    });
    const alice = asTenant(ALICE);
    assert.equal(await refusedWith(() => withClient(alice, 'alice_db', (c) => c.query('SELECT 1'))), INVALID_PASSWORD);
    assert.equal(await driver.ensureTenant(ALICE.storage, ALICE.owner), undefined);
    assert.deepEqual(await catalog(), settled);
    assert.deepEqual(
      (await withClient(alice, 'alice_db', (c) => c.query('SELECT count(*)::int AS n FROM kine'))).rows,
      [{ n: 1 }],
    );
    const { rows } = await superuser('postgres', (client) =>
      client.query("SELECT rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = 'alice'"),
    );
    assert.deepEqual(rows, [{ rolcreatedb: false, rolcreaterole: false }]);
    // PUBLIC's CONNECT is gone again: bob is refused once more.
    assert.equal(
      await refusedWith(() => withClient(asTenant(BOB), 'alice_db', (c) => c.query('SELECT 1'))),
      INSUFFICIENT_PRIVILEGE,
    );

    // A new password (the Secret regenerated) replaces the old one.
    const rotated = { ...ALICE.storage, password: 'alice-Password-2' };
    assert.equal(await driver.ensureTenant(rotated, ALICE.owner), undefined);
    assert.equal(await refusedWith(() => withClient(alice, 'alice_db', (c) => c.query('SELECT 1'))), INVALID_PASSWORD);
    await withClient(asTenant(ALICE, rotated.password), 'alice_db', (c) => c.query('SELECT 1'));
    assert.equal(await driver.ensureTenant(ALICE.storage, ALICE.owner), undefined);
  });

  test('hostile names are one identifier each: created literally, nothing else touched', async () => {
    const hostile = HOSTILE_NAMES;
    const before = await catalog();
    assert.equal(await driver.ensureTenant(hostile.storage, hostile.owner), undefined);
    const during = await catalog();
    assert.deepEqual(added(before.databases, during.databases), [hostile.storage.schema]);
    assert.deepEqual(added(before.roles, during.roles), [hostile.storage.username]);
    await withClient(asTenant(hostile), hostile.storage.schema, (c) => c.query('SELECT 1'));
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

    const session = new pg.Client({ ...sessionOf(asTenant(BOB)), database: 'bob_db' });
    session.on('error', () => undefined);
    await session.connect();
    const ended = new Promise((resolve) => session.once('end', resolve));
    assert.deepEqual(await driver.deleteTenant(BOB.storage, BOB.owner), { deletedKeys: 0, notOwned: [] });
    await ended;
    const afterwards = await catalog();
    assert.deepEqual(added(afterwards.databases, before.databases), ['bob_db']);
    assert.deepEqual(added(afterwards.roles, before.roles), ['bob']);
    assert.deepEqual(added(afterwards.records, before.records), ['database:bob_db:uid-bob', 'user:bob:uid-bob']);
    assert.equal(afterwards.records.length, before.records.length - 2);
    // Alice is untouched and still works.
    await withClient(asTenant(ALICE, 'alice-Password-1'), 'alice_db', (c) => c.query('SELECT count(*) FROM kine'));
    // Run again: nothing left to do, nothing else changed.
    assert.deepEqual(await driver.deleteTenant(BOB.storage, BOB.owner), { deletedKeys: 0, notOwned: [] });
    assert.deepEqual(await catalog(), afterwards);
    assert.deepEqual(await driver.deleteTenant(ALICE.storage, ALICE.owner), { deletedKeys: 0, notOwned: [] });
    const empty = await catalog();
    assert.deepEqual(empty.records, []);
    assert.deepEqual(empty.databases, ['kamaji', 'postgres', 'template0', 'template1']);
  });

  test('a claim whose database and user are gone is completed by its owner and still refused to others', async () => {
    await assertClaimCompletes(
      driver,
      (who) =>
        superuser('postgres', async (client) => {
          await client.query(`DROP DATABASE ${who.storage.schema}`);
          await client.query(`DROP ROLE ${who.storage.username}`);
        }),
      (who) => withClient(asTenant(who), who.storage.schema, (c) => c.query('SELECT 1')),
    );
  });

  test('two operators claiming the same names at once: one wins, the other is refused', async () => {
    const other = postgresDriver(server.administrator);
    try {
      await assertOneClaimWins(driver, other);
    } finally {
      other.close();
    }
  });

  test('an administrator authenticated by client certificate works the same', async () => {
    await assertCertificateAdministratorWorks(
      postgresDriver(server.certificateAdministrator),
      CERTIFICATE_ADMINISTRATOR,
      (who) => withClient(asTenant(who), who.storage.schema, (c) => c.query('SELECT 1')),
    );
  });

  test('check() names the endpoint of a server that does not answer', async () => {
    const unused = await freePort();
    await assertUnreachableNamed(
      (endpoint) => postgresDriver({ ...server.administrator, endpoints: [endpoint] }),
      'PostgreSQL',
      unused,
    );
    await driver.check();
  });
});

/** `pg`'s settings for a tenant's own session, as kine would open it. */
function sessionOf(connection: PostgresConnection): pg.ClientConfig {
  const [host, port] = (connection.endpoints[0] ?? '').split(':');
  return {
    host,
    port: Number(port),
    user: connection.username,
    password: connection.password,
    ssl: { ca: connection.caCertificatePem },
  };
}
