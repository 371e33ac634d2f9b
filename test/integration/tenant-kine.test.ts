import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import type { RowDataPacket } from 'mysql2/promise';
import type { DatastoreDriver } from '../../src/datastore/driver.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { withConnection } from '../../src/datastore/mysql/connection.ts';
import { mysqlDriver } from '../../src/datastore/mysql/driver.ts';
import { withClient } from '../../src/datastore/postgresql/connection.ts';
import { postgresDriver } from '../../src/datastore/postgresql/driver.ts';
import type { SqlConnection } from '../../src/datastore/sql/connection.ts';
import { generatePassword } from '../../src/datastore/sql/password.ts';
import type { SqlDriverName } from '../../src/datastore/sql/resolve.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { objectNames } from '../../src/tenant/names.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from '../../src/tenant/steps/certificates.ts';
import { desiredDatastoreSecrets } from '../../src/tenant/steps/datastore.ts';
import { desiredDeployment } from '../../src/tenant/steps/deployment.ts';
import { desiredKubeconfigSecrets } from '../../src/tenant/steps/kubeconfigs.ts';
import { ensureComponents } from '../../src/toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { startTestMariadb, type TestMariadb } from '../support/mariadb.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgresql.ts';
import { assertServerGone } from '../support/sql-tenants.ts';
import { loopbackContext } from '../support/tenant-context.ts';
import { adminCreatingNamespace, materializePodFiles, startKineAndApiServer } from '../support/tenant-pod.ts';

/**
 * A SQL server of the test's own, and how to read kine's table as the tenant. Both servers accept TLS only
 * (PostgreSQL `hostssl`, MariaDB `require_secure_transport`), so kine reaching them proves it used TLS.
 */
interface Backend {
  driver: SqlDriverName;
  start(supervisor: Supervisor): Promise<TestPostgres | TestMariadb>;
  datastoreDriver(administrator: SqlConnection): DatastoreDriver;
  /** The distinct key names in kine's table matching a SQL LIKE pattern, read as `tenant` in `database`. */
  kineKeys(tenant: SqlConnection, database: string, pattern: string): Promise<string[]>;
}

const KINE_KEYS = 'SELECT DISTINCT name FROM kine WHERE name LIKE ?';

const BACKENDS: Backend[] = [
  {
    driver: 'PostgreSQL',
    start: startTestPostgres,
    datastoreDriver: postgresDriver,
    kineKeys: (tenant, database, pattern) =>
      withClient(tenant, database, async (client) =>
        (await client.query<{ name: string }>(KINE_KEYS.replace('?', '$1'), [pattern])).rows.map((row) => row.name),
      ),
  },
  {
    driver: 'MySQL',
    start: startTestMariadb,
    datastoreDriver: mysqlDriver,
    kineKeys: (tenant, database, pattern) =>
      withConnection(tenant, database, async (client) => {
        const [rows] = await client.query<(RowDataPacket & { name: Buffer | string })[]>(KINE_KEYS, [pattern]);
        return rows.map((row) => String(row.name));
      }),
  },
];

for (const backend of BACKENDS) {
  describe(`a tenant API server on a ${backend.driver} DataStore through kine, both run from the Deployment`, () => {
    const supervisor = new Supervisor();
    let server: TestPostgres | TestMariadb;
    let root = '';

    before(async () => {
      server = await backend.start(supervisor);
      root = await mkdtemp(join(tmpdir(), 'kamaji-tenant-kine-'));
    });

    after(async () => {
      const pids = (await server?.processes()) ?? [];
      await supervisor.stopAll();
      await server?.stop();
      assert.deepEqual(supervisor.pids().filter(isAlive), []);
      await assertServerGone(pids, server.dir);
      await rm(root, { recursive: true, force: true });
    });

    test('kine serves the tenant API server on loopback over TLS, storing in the tenant database only', async () => {
      const binaries = await ensureComponents(['kube-apiserver', 'kine']);
      const port = await freePort();
      const schema = 'alpha_db';
      const username = 'alpha_user';
      const context = loopbackContext(port, {
        name: 'alpha',
        datastore: { driver: backend.driver, endpoints: [server.endpoint], schema },
      });
      const password = generatePassword();
      const pki = await desiredCertificateSecrets(context, new Map(), { rotate: false });
      const caData = pki.find((secret) => secret.name === objectNames('alpha').caSecret)?.data ?? {};
      const tenantCa = { certificatePem: caData['ca.crt'] ?? '', privateKeyPem: caData['ca.key'] ?? '' };
      const all: DesiredSecret[] = [
        ...pki,
        ...(await desiredKubeconfigSecrets(context, tenantCa, new Map(), { rotate: false })),
        ...(await desiredDatastoreSecrets({
          context,
          credentials: { kind: backend.driver, caCertificatePem: server.ca.certificatePem, password, tenantCa },
          username,
          existing: new Map(),
          options: { rotate: false },
        })),
      ];
      const secrets = new Map<string, SecretText>(all.map((secret) => [secret.name, secret.data]));
      const owner = { uid: 'alpha-uid', namespace: 'tenants', name: 'alpha' };
      const driver = backend.datastoreDriver(server.administrator);
      try {
        assert.equal(await driver.ensureTenant({ schema, username, password }, owner), undefined);
      } finally {
        driver.close();
      }

      const deployment = desiredDeployment({ context, podTemplateChecksum: 'test' });
      await materializePodFiles(deployment, secrets, root);
      const kine = deployment.spec?.template.spec?.containers.find((container) => container.name === 'kine');
      assert.ok(kine, 'the pod has a kine container');
      assert.equal(kine.envFrom?.[0]?.secretRef?.name, objectNames('alpha').datastoreConfigSecret);
      assert.ok(!JSON.stringify(deployment).includes(password), 'the password is not in the Deployment');
      // The pod's loopback is its own; here, processes share the host's, so kine gets a free port.
      const { kineAddress } = await startKineAndApiServer(
        supervisor,
        deployment,
        secrets,
        'alpha',
        { kine: binaries.get('kine')?.path ?? '', kubeApiServer: binaries.get('kube-apiserver')?.path ?? '' },
        root,
      );

      const admin = await adminCreatingNamespace(secrets, 'alpha', 'made-on-kine', KUBERNETES_VERSION);
      const core = admin.makeApiClient(CoreV1Api);
      assert.equal((await core.readNamespace({ name: 'made-on-kine' })).metadata?.name, 'made-on-kine');

      // As the tenant's own user, in its own database: kine's table holds the Namespace under the tenant prefix.
      const tenantConnection = {
        endpoints: [server.endpoint],
        caCertificatePem: server.ca.certificatePem,
        username,
        password,
      };
      const names = await backend.kineKeys(tenantConnection, schema, '%made-on-kine');
      assert.deepEqual(names, [`/${schema}/namespaces/made-on-kine`]);

      // kine answers only a client holding a certificate from the tenant CA (the API server's, which is kine's own).
      const kineCertificate = secrets.get(objectNames('alpha').datastoreCertificateSecret) ?? {};
      const stranger = await createCertificateAuthority('stranger-ca', { validityDays: 1 });
      const strangerClient = await issueCertificate(stranger, {
        commonName: 'kube-apiserver-kine',
        usages: ['clientAuth'],
        validityDays: 1,
      });
      const attempts = [
        { label: 'no client certificate', refused: true, credentials: {} },
        {
          label: 'a client certificate from another CA',
          refused: true,
          credentials: {
            clientCertificatePem: strangerClient.certificatePem,
            clientKeyPem: strangerClient.privateKeyPem,
          },
        },
        {
          label: "kine's certificate",
          refused: false,
          credentials: {
            clientCertificatePem: kineCertificate['server.crt'] ?? '',
            clientKeyPem: kineCertificate['server.key'] ?? '',
          },
        },
      ];
      let denials = 0;
      for (const attempt of attempts) {
        const client = connectEtcd({
          endpoints: [`https://${kineAddress}`],
          caCertificatePem: tenantCa.certificatePem,
          ...attempt.credentials,
        });
        try {
          const value = await client.get(`/${schema}/namespaces/made-on-kine`).string();
          assert.equal(attempt.refused, false, `${attempt.label}: read ${value?.length} characters`);
          assert.ok(value?.includes('made-on-kine'), attempt.label);
        } catch (error) {
          assert.equal(attempt.refused, true, `${attempt.label}: ${(error as Error).message}`);
          denials += 1;
          // Refused by the TLS handshake: `certificate required`, or `unknown ca`.
          assert.match((error as Error).message, /alert (certificate required|unknown ca)/, attempt.label);
        } finally {
          client.close();
        }
      }
      assert.equal(denials, 2);
    });
  });
}
