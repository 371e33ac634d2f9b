import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, KubeConfig, VersionApi } from '@kubernetes/client-node';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { withClient } from '../../src/datastore/postgresql/connection.ts';
import { postgresDriver } from '../../src/datastore/postgresql/driver.ts';
import { generatePassword } from '../../src/datastore/sql/password.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { objectNames } from '../../src/tenant/names.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from '../../src/tenant/steps/certificates.ts';
import { desiredDatastoreSecrets } from '../../src/tenant/steps/datastore.ts';
import { desiredDeployment } from '../../src/tenant/steps/deployment.ts';
import { KINE_LISTEN_ADDRESS } from '../../src/tenant/steps/kine.ts';
import { desiredKubeconfigSecrets } from '../../src/tenant/steps/kubeconfigs.ts';
import { ensureComponents } from '../../src/toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { waitFor } from '../../src/util/wait.ts';
import { startTestPostgres, type TestPostgres } from '../support/postgresql.ts';
import { assertServerGone } from '../support/sql-tenants.ts';
import { sampleContext } from '../support/tenant-context.ts';
import { materializePodFiles } from '../support/tenant-pod.ts';

/** `$(NAME)` references expanded from `variables`, as the kubelet does for a container's env values. */
function expandEnv(value: string, variables: Readonly<Record<string, string>>): string {
  return value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (reference, name: string) => variables[name] ?? reference);
}

describe('a tenant API server on a PostgreSQL DataStore through kine, both run from the Deployment', () => {
  const supervisor = new Supervisor();
  let server: TestPostgres;
  let root = '';

  before(async () => {
    server = await startTestPostgres(supervisor);
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
    const context = sampleContext({
      name: 'alpha',
      version: KUBERNETES_VERSION,
      endpointAddress: '127.0.0.1',
      advertiseAddress: '127.0.0.1',
      port,
      endpointPort: port,
      datastore: { driver: 'PostgreSQL', endpoints: [server.endpoint], schema },
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
        credentials: { kind: 'PostgreSQL', caCertificatePem: server.ca.certificatePem, password, tenantCa },
        username,
        existing: new Map(),
        options: { rotate: false },
      })),
    ];
    const secrets = new Map<string, SecretText>(all.map((secret) => [secret.name, secret.data]));
    const owner = { uid: 'alpha-uid', namespace: 'tenants', name: 'alpha' };
    const driver = postgresDriver(server.administrator);
    try {
      assert.equal(await driver.ensureTenant({ schema, username, password }, owner), undefined);
    } finally {
      driver.close();
    }

    const deployment = desiredDeployment({ context, podTemplateChecksum: 'test' });
    await materializePodFiles(deployment, secrets, root);
    // The pod's loopback is its own; here, processes share the host's, so kine gets a free port.
    const kineAddress = `127.0.0.1:${await freePort()}`;
    const asProcess = (name: string) => {
      const container = deployment.spec?.template.spec?.containers.find((candidate) => candidate.name === name);
      assert.ok(container?.args, `container ${name} has arguments`);
      return {
        container,
        args: container.args.map((arg) =>
          arg.replaceAll('=/etc/', `=${root}/etc/`).replace(KINE_LISTEN_ADDRESS, kineAddress),
        ),
      };
    };
    const kine = asProcess('kine');
    const config = secrets.get(objectNames('alpha').datastoreConfigSecret) ?? {};
    assert.equal(kine.container.envFrom?.[0]?.secretRef?.name, objectNames('alpha').datastoreConfigSecret);
    assert.ok(!JSON.stringify(deployment).includes(password), 'the password is not in the Deployment');
    const env = Object.fromEntries(
      (kine.container.env ?? []).map((variable) => [variable.name, expandEnv(variable.value ?? '', config)]),
    );
    supervisor.start({
      name: 'kine',
      command: binaries.get('kine')?.path ?? '',
      args: kine.args,
      env: { PATH: process.env.PATH ?? '', ...config, ...env },
      logFile: join(root, 'kine.log'),
    });
    supervisor.start({
      name: 'kube-apiserver',
      command: binaries.get('kube-apiserver')?.path ?? '',
      args: asProcess('kube-apiserver').args,
      logFile: join(root, 'kube-apiserver.log'),
    });

    const admin = new KubeConfig();
    admin.loadFromString(secrets.get(objectNames('alpha').adminKubeconfigSecret)?.['super-admin.conf'] ?? '');
    const version = await waitFor(() => admin.makeApiClient(VersionApi).getCode(), {
      timeoutMs: 90_000,
      intervalMs: 250,
      description: 'the tenant API server to answer /version',
    });
    assert.equal(version.gitVersion, KUBERNETES_VERSION);
    const core = admin.makeApiClient(CoreV1Api);
    await waitFor(() => core.createNamespace({ body: { metadata: { name: 'made-on-kine' } } }), {
      timeoutMs: 60_000,
      description: 'the admin kubeconfig to create a Namespace',
    });
    assert.equal((await core.readNamespace({ name: 'made-on-kine' })).metadata?.name, 'made-on-kine');

    // As the tenant's own user, in its own database: kine's table holds the Namespace under the tenant prefix.
    const tenantConnection = {
      endpoints: [server.endpoint],
      caCertificatePem: server.ca.certificatePem,
      username,
      password,
    };
    const names = await withClient(tenantConnection, schema, async (client) =>
      (await client.query<{ name: string }>("SELECT DISTINCT name FROM kine WHERE name LIKE '%made-on-kine'")).rows.map(
        (row) => row.name,
      ),
    );
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
