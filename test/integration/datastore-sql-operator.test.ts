import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, type V1Deployment } from '@kubernetes/client-node';
import type { RowDataPacket } from 'mysql2/promise';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import { GROUP, VERSION } from '../../src/api/v1alpha1/group-version.ts';
import { KAMAJI_NAMESPACE } from '../../src/cluster/kamaji-install.ts';
import { withConnection } from '../../src/datastore/mysql/connection.ts';
import { withClient } from '../../src/datastore/postgresql/connection.ts';
import type { SqlConnection } from '../../src/datastore/sql/connection.ts';
import type { SqlDriverName } from '../../src/datastore/sql/resolve.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { createDataStore } from '../support/kamaji-api.ts';
import { startTestMariadb, type TestMariadb } from '../support/mariadb.ts';
import { NAMESPACE, useOperator } from '../support/operator.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgresql.ts';
import { assertServerGone } from '../support/sql-tenants.ts';

const SCHEMA = 'sql_db';
const USER = 'sql_user';
const base64 = (text: string) => Buffer.from(text).toString('base64');
const templateChecksum = (deployment: V1Deployment) =>
  deployment.spec?.template.metadata?.annotations?.['kamaji.clastix.io/pod-template-checksum'];

/** How many databases and users named like the tenant's the server's catalog holds. */
type Catalog = { databases: number; users: number };

interface Backend {
  driver: SqlDriverName;
  start(supervisor: Supervisor): Promise<TestPostgres | TestMariadb>;
  /** Whether `tenant` logs in to its database. */
  logsIn(tenant: SqlConnection): Promise<boolean>;
  catalog(server: TestPostgres | TestMariadb): Promise<Catalog>;
}

const BACKENDS: Backend[] = [
  {
    driver: 'PostgreSQL',
    start: startTestPostgres,
    logsIn: (tenant) =>
      withClient(tenant, SCHEMA, async (client) => (await client.query('SELECT 1')).rowCount === 1).catch(() => false),
    catalog: (server) =>
      withClient((server as TestPostgres).postgres, 'postgres', async (client) => ({
        databases: (await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [SCHEMA])).rowCount ?? -1,
        users: (await client.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [USER])).rowCount ?? -1,
      })),
  },
  {
    driver: 'MySQL',
    start: startTestMariadb,
    logsIn: (tenant) =>
      withConnection(tenant, SCHEMA, async (client) => (await client.query('SELECT 1')) !== undefined).catch(
        () => false,
      ),
    async catalog(server) {
      const root = await (server as TestMariadb).root();
      try {
        const count = async (sql: string, name: string) => {
          const [rows] = await root.query<RowDataPacket[]>(sql, [name]);
          return rows.length;
        };
        return {
          databases: await count('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', SCHEMA),
          users: await count('SELECT 1 FROM mysql.user WHERE User = ?', USER),
        };
      } finally {
        await root.end();
      }
    },
  },
];

for (const backend of BACKENDS) {
  describe(`a TenantControlPlane on a ${backend.driver} DataStore, reconciled by the operator`, () => {
    const operator = useOperator();
    const supervisor = new Supervisor();
    let server: TestPostgres | TestMariadb;

    before(async () => {
      server = await backend.start(supervisor);
      const secretName = 'pg-administrator';
      const reference = (keyPath: string) => ({
        secretReference: { name: secretName, namespace: KAMAJI_NAMESPACE, keyPath },
      });
      const dataStore: DataStore = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'DataStore',
        metadata: { name: 'pg' },
        spec: {
          driver: backend.driver,
          endpoints: [server.endpoint],
          tlsConfig: { certificateAuthority: { certificate: reference('ca.crt') } },
          basicAuth: { username: reference('username'), password: reference('password') },
        },
      } as DataStore;
      await createDataStore(
        operator().config,
        {
          metadata: { name: secretName, namespace: KAMAJI_NAMESPACE },
          data: {
            'ca.crt': base64(server.ca.certificatePem),
            username: base64(server.administrator.username ?? ''),
            password: base64(server.administrator.password ?? ''),
          },
        },
        dataStore,
      );
    });

    after(async () => {
      const pids = (await server?.processes()) ?? [];
      await server?.stop();
      await supervisor.stopAll();
      assert.deepEqual(supervisor.pids().filter(isAlive), []);
      await assertServerGone(pids, server.dir);
    });

    const logsIn = (password: string) =>
      backend.logsIn({
        endpoints: [server.endpoint],
        caCertificatePem: server.ca.certificatePem,
        username: USER,
        password,
      });

    test('provisioned with a generated password and kine; a corrupted password replaced; deletion leaves nothing', async () => {
      await operator().createTenant('sql', await freePort(), {
        dataStore: 'pg',
        dataStoreSchema: SCHEMA,
        dataStoreUsername: USER,
      });
      await operator().waitProvisioned('sql');
      const config = (await operator().secretsOf('sql')).get('sql-datastore-config') ?? {};
      assert.deepEqual(Object.keys(config).sort(), ['DB_CONNECTION_STRING', 'DB_PASSWORD', 'DB_SCHEMA', 'DB_USER']);
      assert.equal(config.DB_CONNECTION_STRING, server.endpoint);
      assert.equal(config.DB_SCHEMA, SCHEMA);
      assert.equal(config.DB_USER, USER);
      const original = config.DB_PASSWORD ?? '';
      assert.match(original, /^[A-Za-z0-9_-]{32}$/);
      assert.equal(await logsIn(original), true, 'the tenant logs in with the password in its Secret');

      const apps = operator().config.makeApiClient(AppsV1Api);
      const deployment = await apps.readNamespacedDeployment({ name: 'sql', namespace: NAMESPACE });
      const containers = deployment.spec?.template.spec?.containers.map((container) => container.name) ?? [];
      assert.ok(containers.includes('kine'), `containers: ${containers.join(', ')}`);
      assert.ok(!JSON.stringify(deployment).includes(original), 'the password is not in the Deployment');

      // Corrupted by hand (annotation left alone): replaced by a new one, set on the server; the old one refused.
      await operator().core.patchNamespacedSecret({
        name: 'sql-datastore-config',
        namespace: NAMESPACE,
        body: [{ op: 'replace', path: '/data/DB_PASSWORD', value: base64('not a password') }],
      });
      const replaced = await waitFor(
        async () => {
          const password = (await operator().secretsOf('sql')).get('sql-datastore-config')?.DB_PASSWORD ?? '';
          return /^[A-Za-z0-9_-]{32}$/.test(password) && password !== original ? password : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500, description: 'DB_PASSWORD to be regenerated' },
      );
      await waitFor(async () => ((await logsIn(replaced)) ? true : undefined), {
        timeoutMs: 20_000,
        description: 'the new password to work',
      });
      assert.equal(await logsIn(original), false, 'the old password is refused');
      // The pods roll: the pod template's checksum of the mounted Secrets changed.
      await waitFor(
        async () => {
          const rolled = await apps.readNamespacedDeployment({ name: 'sql', namespace: NAMESPACE });
          return templateChecksum(rolled) !== templateChecksum(deployment) ? true : undefined;
        },
        { timeoutMs: 20_000, description: 'the pod template checksum to change' },
      );

      assert.deepEqual(await backend.catalog(server), { databases: 1, users: 1 });
      await operator().deleteTenant('sql');
      assert.deepEqual(await backend.catalog(server), { databases: 0, users: 0 }, 'the database and the user are gone');
    });
  });
}
