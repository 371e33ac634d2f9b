import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api } from '@kubernetes/client-node';
import { basicAuthDataStoreObjects } from '../../src/cluster/datastores/sql.ts';
import { connectNats } from '../../src/datastore/nats/connection.ts';
import { NatsDriver, tenantAccountKey } from '../../src/datastore/nats/driver.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { createDataStore } from '../support/kamaji-api.ts';
import { refusal, startTestNats, type TestNats } from '../support/nats.ts';
import { NAMESPACE, useOperator } from '../support/operator.ts';
import { MALLORY } from '../support/sql-tenants.ts';

const base64 = (text: string) => Buffer.from(text).toString('base64');

describe('a TenantControlPlane on a NATS DataStore, reconciled by the operator', () => {
  const operator = useOperator();
  const supervisor = new Supervisor();
  let nats: TestNats;
  const schema = 'natsy_db';
  const loginWith = async (creds: string) => {
    const client = await connectNats(nats.connection, creds, 'natsy');
    await client.close();
    return true;
  };

  before(async () => {
    nats = await startTestNats(supervisor);
    // The same DataStore and Secret as `kamaji datastore add nats` applies.
    const administrator = { username: 'kamaji', password: nats.connection.operatorSeed };
    const { secret, dataStore } = basicAuthDataStoreObjects(
      'nats',
      'NATS',
      nats.endpoint,
      nats.ca.certificatePem,
      administrator,
    );
    await createDataStore(operator().config, secret, dataStore);
  });

  after(async () => {
    await nats?.stop();
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
  });

  test('provisioned with its own account and creds; a corrupted password replaced; deletion leaves no account', async () => {
    await operator().createTenant('natsy', await freePort(), {
      dataStore: 'nats',
      dataStoreSchema: schema,
      dataStoreUsername: 'natsy_user',
    });
    await operator().waitProvisioned('natsy');
    const secrets = await operator().secretsOf('natsy');
    const config = secrets.get('natsy-datastore-config') ?? {};
    assert.deepEqual(Object.keys(config).sort(), ['DB_CONNECTION_STRING', 'DB_PASSWORD', 'DB_SCHEMA', 'DB_USER']);
    assert.equal(config.DB_CONNECTION_STRING, nats.endpoint);
    const original = secrets.get('natsy-datastore-certificate')?.['nats.creds'] ?? '';
    assert.equal(await loginWith(original), true, 'the tenant logs in with the creds in its Secret');
    const account = tenantAccountKey(nats.connection, schema);
    const driver = new NatsDriver(nats.connection);
    try {
      assert.equal(await driver.accountOnServer(account), true);
      const apps = operator().config.makeApiClient(AppsV1Api);
      const deployment = await apps.readNamespacedDeployment({ name: 'natsy', namespace: NAMESPACE });
      const kine = deployment.spec?.template.spec?.containers.find((container) => container.name === 'kine');
      const endpoint = kine?.env?.find((variable) => variable.name === 'KINE_ENDPOINT')?.value;
      assert.equal(
        endpoint,
        'nats://$(DB_CONNECTION_STRING)?bucket=$(DB_SCHEMA)&noEmbed&credsFile=/etc/kine/nats.creds',
      );
      assert.ok(
        !JSON.stringify(deployment).includes(config.DB_PASSWORD ?? 'none'),
        'the password is not in the Deployment',
      );

      // Corrupted by hand: a new password, so a new signing key and creds; the old creds are refused.
      await operator().core.patchNamespacedSecret({
        name: 'natsy-datastore-config',
        namespace: NAMESPACE,
        body: [{ op: 'replace', path: '/data/DB_PASSWORD', value: base64('not a password') }],
      });
      const replaced = await waitFor(
        async () => {
          const creds = (await operator().secretsOf('natsy')).get('natsy-datastore-certificate')?.['nats.creds'];
          return creds && creds !== original ? creds : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 500, description: 'the creds to be replaced' },
      );
      await waitFor(() => loginWith(replaced).catch(() => undefined), {
        timeoutMs: 20_000,
        description: 'the new creds to work',
      });
      assert.match(await refusal(() => loginWith(original)), /Authorization Violation/i);

      await operator().deleteTenant('natsy');
      assert.equal(await driver.accountOnServer(account), false, 'the account is gone');
      assert.match(await refusal(() => loginWith(replaced)), /Authorization Violation/i);
      assert.equal(
        await driver.ensureTenant({ schema, username: 'x', password: 'Other-Password-1' }, MALLORY),
        undefined,
      );
      await driver.deleteTenant({ schema, username: 'x' }, MALLORY);
    } finally {
      driver.close();
    }
  });
});
