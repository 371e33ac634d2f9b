import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import type { V1Condition } from '@kubernetes/client-node';
import type { Etcd3 } from 'etcd3';
import type { TenantControlPlane, TenantControlPlaneSpec } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { createDataStore } from '../support/kamaji-api.ts';
import { NAMESPACE, tcps, useOperator } from '../support/operator.ts';
import { type StandaloneEtcd, standaloneEtcd } from '../support/standalone-etcd.ts';

const condition = (tcp: TenantControlPlane, type: string): V1Condition | undefined =>
  (tcp.status?.conditions as V1Condition[] | undefined)?.find((entry) => entry.type === type);

const VICTIM = { dataStoreSchema: 'victim_data', dataStoreUsername: 'victim_user' };
const VICTIM_KEYS = 25;

describe('tenant datastore identity: a hostile TCP reaches no other tenant', () => {
  const operator = useOperator();
  const supervisor = new Supervisor();
  let root: Etcd3;
  let flaky: StandaloneEtcd | undefined;

  before(() => {
    root = connectEtcd(operator().harness.etcd.root);
  });

  after(async () => {
    root?.close();
    await flaky?.remove();
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
  });

  const victimKeys = () => root.getAll().prefix(`/${VICTIM.dataStoreSchema}/`).count();
  const etcdUsers = async () => (await root.auth.userList()).users.sort();

  test('attacks on another tenant, on root and on data outside Kamaji are each refused, naming the field', async () => {
    await operator().createTenant('victim', await freePort(), VICTIM);
    await operator().waitProvisioned('victim');
    // The victim writes its data with its own certificate: the grant works for its owner.
    const secrets = await operator().secretsOf('victim');
    const certificate = secrets.get('victim-datastore-certificate') ?? {};
    const victim = connectEtcd({
      endpoints: [operator().harness.etcd.endpoint],
      caCertificatePem: certificate['ca.crt'] ?? '',
      clientCertificatePem: certificate['server.crt'],
      clientKeyPem: certificate['server.key'],
    });
    try {
      for (let index = 0; index < VICTIM_KEYS; index += 1) {
        await victim.put(`/${VICTIM.dataStoreSchema}/registry/key-${index}`).value(`value ${index}`);
      }
    } finally {
      victim.close();
    }
    assert.equal(await victimKeys(), VICTIM_KEYS);
    // A user an etcd operator made by hand: Kamaji never takes it over.
    await root.auth.userAdd({ name: 'backup_operator', options: { no_password: true } });
    const usersBefore = await etcdUsers();

    // Each attack: the spec it writes, the condition that must refuse it, and what the message must name.
    const attacks: { name: string; spec: Partial<TenantControlPlaneSpec>; type: string; expect: RegExp }[] = [
      {
        name: 'as-root',
        spec: { dataStoreUsername: 'root' },
        type: 'Valid',
        expect: /spec\.dataStoreUsername: "root" is reserved/,
      },
      {
        name: 'same-schema',
        spec: { dataStoreSchema: VICTIM.dataStoreSchema },
        type: 'DataStoreReady',
        expect: /spec\.dataStoreSchema is already used on DataStore default by TenantControlPlane tenants\/victim/,
      },
      {
        name: 'same-user',
        spec: { dataStoreUsername: VICTIM.dataStoreUsername },
        type: 'DataStoreReady',
        expect: /spec\.dataStoreUsername is already used on DataStore default by TenantControlPlane tenants\/victim/,
      },
      {
        name: 'apiserver-keys',
        spec: { dataStoreSchema: 'registry' },
        type: 'DataStoreReady',
        expect: /spec\.dataStoreSchema: \d+ keys under \/registry\/ belong to no tenant/,
      },
      {
        name: 'hand-made-user',
        spec: { dataStoreUsername: 'backup_operator' },
        type: 'DataStoreReady',
        expect: /spec\.dataStoreUsername: etcd user backup_operator exists and was not created by Kamaji/,
      },
    ];
    let denials = 0;
    for (const attack of attacks) {
      await operator().createTenant(attack.name, await freePort(), attack.spec);
      const refused = await operator().waitTenant(
        attack.name,
        `to be refused (${attack.type})`,
        (tcp) => condition(tcp, attack.type)?.status === 'False',
      );
      assert.match(condition(refused, attack.type)?.message ?? '', attack.expect);
      assert.equal(condition(refused, 'Ready')?.status, 'False', `${attack.name}: Ready summarises the refusal`);
      denials += 1;
    }
    // A range inside the victim's: the API itself refuses it, naming the field.
    const nested = await operator()
      .createTenant('nested', await freePort(), { dataStoreSchema: `${VICTIM.dataStoreSchema}/x` })
      .then(
        () => undefined,
        (error: Error) => error,
      );
    assert.match(String(nested?.message ?? nested), /spec\.dataStoreSchema/);
    denials += 1;
    assert.equal(denials, attacks.length + 1, 'every attack was denied');

    // No attacker holds a datastore credential; every datastore certificate's CN is its own tenant's user.
    const { items } = await operator().core.listNamespacedSecret({
      namespace: NAMESPACE,
      labelSelector: 'kamaji.clastix.io/component=datastore-certificate',
    });
    const commonNames = items.map((secret) => {
      const pem = Buffer.from(secret.data?.['server.crt'] ?? '', 'base64').toString();
      return [secret.metadata?.name, new X509Certificate(pem).subject] as const;
    });
    assert.deepEqual(commonNames, [['victim-datastore-certificate', `CN=${VICTIM.dataStoreUsername}`]]);
    assert.deepEqual(await etcdUsers(), usersBefore, 'no etcd user was created for an attacker');

    // Deleting the attackers deletes nothing of the victim's (nor the hand-made user).
    for (const attack of attacks) await operator().custom.deleteNamespacedCustomObject({ ...tcps, name: attack.name });
    await waitFor(
      async () => {
        const { items: left } = (await operator().custom.listNamespacedCustomObject({ ...tcps })) as {
          items: TenantControlPlane[];
        };
        return left.length === 1 ? true : undefined;
      },
      { timeoutMs: 30_000, description: 'the attackers to be deleted' },
    );
    assert.equal(await victimKeys(), VICTIM_KEYS, "the victim's keys are all there");
    assert.deepEqual(await etcdUsers(), usersBefore, 'no etcd user was deleted');
    assert.deepEqual((await root.auth.roleGet({ role: VICTIM.dataStoreUsername })).perm.length, 1);
    const victimNow = await operator().readTenant('victim');
    assert.equal(condition(victimNow, 'DataStoreReady')?.status, 'True');
    await root.auth.userDelete({ name: 'backup_operator' });
  });

  test('a changed spec.dataStore is a migration: to a DataStore that does not exist nothing moves; set back, it ends', async () => {
    const setDataStore = (value: string) =>
      operator().custom.patchNamespacedCustomObject({
        ...tcps,
        name: 'victim',
        body: [{ op: 'replace', path: '/spec/dataStore', value }],
      });
    await setDataStore('elsewhere');
    const waiting = await operator().waitTenant(
      'victim',
      'to report the migration it cannot start',
      (tcp) => condition(tcp, 'DataStoreMigrated')?.reason === 'DataStoreNotFound',
    );
    assert.match(
      condition(waiting, 'DataStoreMigrated')?.message ?? '',
      /^cannot migrate from DataStore default to elsewhere yet: DataStore elsewhere does not exist: create it or set spec\.dataStore; the tenant stays on default$/,
    );
    assert.equal(waiting.status?.storage?.dataStoreName, 'default', 'the data is where it was');
    assert.equal(waiting.status?.storage?.migration, undefined, 'nothing was started');
    assert.equal(condition(waiting, 'DataStoreReady')?.status, 'True', 'the tenant is still granted on default');
    assert.equal(await victimKeys(), VICTIM_KEYS);
    await setDataStore('default');
    await operator().waitTenant(
      'victim',
      'to settle on default again',
      (tcp) => condition(tcp, 'DataStoreMigrated')?.reason === 'NotNeeded',
    );
    assert.equal(await victimKeys(), VICTIM_KEYS);
  });

  test('a DataStore taken down makes its tenant not Ready within 30 s, naming it; it recovers alone', async () => {
    flaky = await standaloneEtcd(supervisor, 'flaky');
    await flaky.start();
    await createDataStore(operator().config, flaky.objects.secret, flaky.objects.dataStore);
    await operator().createTenant('steady', await freePort(), { dataStore: 'flaky' });
    await operator().waitTenant(
      'steady',
      'to be granted',
      (tcp) => condition(tcp, 'DataStoreReady')?.status === 'True',
    );

    await flaky.stop();
    const stoppedAt = Date.now();
    const down = await waitFor(
      async () => {
        const tcp = await operator().readTenant('steady');
        return condition(tcp, 'DataStoreReady')?.status === 'False' ? tcp : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the tenant to report its DataStore down' },
    );
    const ready = condition(down, 'Ready');
    assert.equal(ready?.status, 'False');
    assert.equal(ready?.reason, 'DataStoreUnreachable');
    assert.match(ready?.message ?? '', /DataStore flaky/);
    const detectedInSeconds = (Date.now() - stoppedAt) / 1000;

    await flaky.start();
    await operator().waitTenant('steady', 'to recover', (tcp) => condition(tcp, 'DataStoreReady')?.status === 'True');
    console.log(`outage reported after ${detectedInSeconds.toFixed(1)} s`);
    await operator().custom.deleteNamespacedCustomObject({ ...tcps, name: 'steady' });
  });
});
