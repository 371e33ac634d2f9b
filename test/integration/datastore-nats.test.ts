import assert from 'node:assert/strict';
import { once } from 'node:events';
import { access, mkdtemp, readdir, rm } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { openTenantKeyspace } from '../../src/datastore/keyspace/keyspace.ts';
import { NatsOperator } from '../../src/datastore/nats/accounts.ts';
import { connectNats, type NatsClient } from '../../src/datastore/nats/connection.ts';
import { NatsDriver, tenantAccountKey } from '../../src/datastore/nats/driver.ts';
import { credsFile, signJwt } from '../../src/datastore/nats/jwt.ts';
import { derivedKeyPair } from '../../src/datastore/nats/nkeys.ts';
import { generatePassword } from '../../src/datastore/sql/password.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { objectNames } from '../../src/tenant/names.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from '../../src/tenant/steps/certificates.ts';
import { desiredDatastoreSecrets } from '../../src/tenant/steps/datastore.ts';
import { desiredDeployment } from '../../src/tenant/steps/deployment.ts';
import { desiredKubeconfigSecrets } from '../../src/tenant/steps/kubeconfigs.ts';
import { ensureComponent, ensureComponents } from '../../src/toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { kineKeyName, refusal, startTestNats, type TestNats } from '../support/nats.ts';
import { MALLORY, type Tenant, tenant } from '../support/sql-tenants.ts';
import { loopbackContext } from '../support/tenant-context.ts';
import { adminCreatingNamespace, materializePodFiles, startKineAndApiServer } from '../support/tenant-pod.ts';

/**
 * Speaks NATS in the clear (CONNECT, PING) as a client that ignores the server's `tls_required`; fails with what the
 * server answered when it did not say PONG.
 */
async function inTheClear(endpoint: string): Promise<void> {
  const [host, port] = endpoint.split(':');
  const socket = createConnection({ host, port: Number(port) });
  let answered = '';
  socket.on('data', (chunk: Buffer) => {
    answered += chunk.toString();
    if (answered.startsWith('INFO') && answered.includes('\r\n')) socket.write('CONNECT {"verbose":false}\r\nPING\r\n');
  });
  await Promise.race([once(socket, 'close'), sleep(5_000)]);
  socket.destroy();
  assert.match(answered, /"tls_required":true/);
  if (!answered.includes('PONG')) {
    const rest = answered.replace(/^INFO .*\r\n/, '').trim();
    throw new Error(`no PONG: the server ended the connection${rest ? ` saying ${rest}` : ''}`);
  }
}

describe('NATS DataStore: one account per tenant on a real nats-server (operator mode, TLS only)', () => {
  const supervisor = new Supervisor();
  let nats: TestNats;
  let driver: NatsDriver;
  let operator: NatsOperator;
  const alice = tenant('alice', 'uid-alice');
  const bob = tenant('bob', 'uid-bob');
  const clients: NatsClient[] = [];
  const loginAs = async (who: Tenant, password = who.storage.password) => {
    const creds = operator.tenantCredentials(who.storage.schema, who.storage.username, password);
    const client = await connectNats(nats.connection, creds, who.storage.username);
    clients.push(client);
    return client;
  };

  before(async () => {
    nats = await startTestNats(supervisor);
    driver = new NatsDriver(nats.connection);
    operator = new NatsOperator(nats.connection.operatorSeed);
  });

  after(async () => {
    for (const client of clients) await client.close().catch(() => undefined);
    driver?.close();
    await nats?.stop();
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    await assert.rejects(access(nats.dir), 'the server directory is removed');
  });

  test('each schema is claimed by one TCP: a re-run changes nothing, another is refused, racers get one winner', async () => {
    assert.equal(await driver.ensureTenant(alice.storage, alice.owner), undefined);
    assert.equal(await driver.ensureTenant(bob.storage, bob.owner), undefined);
    assert.equal(await driver.ensureTenant(alice.storage, alice.owner), undefined);
    const stolen = await driver.ensureTenant({ ...alice.storage, username: 'mallory' }, MALLORY);
    assert.equal(stolen?.reason, 'OwnedByAnotherTenant');
    assert.equal(stolen?.field, 'spec.dataStoreSchema');
    assert.deepEqual(stolen?.reason === 'OwnedByAnotherTenant' && stolen.owner, alice.owner);
    // Two operators (two drivers) racing for the same schema: the owners bucket's create decides, once.
    for (let round = 0; round < 5; round++) {
      const racers = [new NatsDriver(nats.connection), new NatsDriver(nats.connection)];
      try {
        const schema = `race_${round}`;
        const outcomes = await Promise.all(
          racers.map((racer, index) =>
            racer.ensureTenant(
              { schema, username: `racer${index}`, password: 'Racer-Password-1' },
              { uid: `uid-racer-${index}`, namespace: 'ns', name: `racer${index}` },
            ),
          ),
        );
        assert.equal(outcomes.filter((outcome) => outcome === undefined).length, 1, JSON.stringify(outcomes));
      } finally {
        for (const racer of racers) racer.close();
      }
    }
    await assert.rejects(driver.ensureTenant({ ...bob.storage, password: undefined }, bob.owner), /password/);
  });

  test("each tenant is denied on the other's bucket, subjects and accounts (denials counted)", async () => {
    const [asAlice, asBob] = [await loginAs(alice), await loginAs(bob)];
    for (const [client, who] of [
      [asAlice, alice],
      [asBob, bob],
    ] as const) {
      const bucket = await new Kvm(client).create(who.storage.schema);
      await bucket.put('secret', `${who.storage.username}'s`);
    }
    let denials = 0;
    const denied = async (label: string, attempt: () => Promise<unknown>, expected: RegExp) => {
      assert.match(await refusal(attempt), expected, label);
      denials += 1;
    };
    for (const [client, other] of [
      [asAlice, bob],
      [asBob, alice],
    ] as const) {
      const streams = await jetstreamManager(client);
      await denied('stream info', () => streams.streams.info(`KV_${other.storage.schema}`), /stream not found/);
      await denied(
        "read the other's key",
        async () => (await new Kvm(client).open(other.storage.schema)).get('secret'),
        /stream not found|no responders/,
      );
      await denied(
        'a second stream',
        () => streams.streams.add({ name: 'extra', subjects: ['extra.>'] }),
        /maximum number of streams reached/,
      );
      // The system account's subjects are not in a tenant's account: nobody answers there.
      const forged = operator.tenantAccountJwt(other.storage.schema, 'Mallory-Password-1', 1);
      await denied('push an account', () => client.request('$SYS.REQ.CLAIMS.UPDATE', forged), /no responders/);
      // Watches everything its account can see while the other tenant writes, reads and is answered.
      const seen: string[] = [];
      const everything = client.subscribe('>', {
        callback: (_error, message) => {
          seen.push(message.subject);
        },
      });
      await client.flush();
      const otherClient = other === alice ? asAlice : asBob;
      const otherBucket = await new Kvm(otherClient).open(other.storage.schema);
      await otherBucket.put('more', 'data');
      assert.equal((await otherBucket.get('secret'))?.string(), `${other.storage.username}'s`);
      await otherClient.request('_INBOX.reply-test', 'x', { timeout: 200 }).catch(() => undefined);
      await otherClient.flush();
      await client.flush();
      everything.unsubscribe();
      assert.deepEqual(seen, [], "none of the other tenant's messages, inboxes or KV subjects are seen");
    }
    // A user claiming bob's account, signed by a key bob's account does not list; and a client in the clear.
    const forgedUser = derivedKeyPair('user', 'mallory', 'forged-user');
    const forgedJwt = signJwt(
      derivedKeyPair('account', 'mallory', 'forged-signer'),
      {
        subject: forgedUser.getPublicKey(),
        name: 'mallory',
        nats: {
          type: 'user',
          issuer_account: tenantAccountKey(nats.connection, bob.storage.schema),
          subs: -1,
          data: -1,
          payload: -1,
        },
      },
      1,
    );
    await denied(
      "a user of bob's account signed by another key",
      () =>
        connectNats(nats.connection, credsFile(forgedJwt, new TextDecoder().decode(forgedUser.getSeed())), 'forged'),
      /Authorization Violation/i,
    );
    await denied(
      'a client speaking the protocol in the clear',
      () => inTheClear(nats.endpoint),
      /no PONG: the server ended the connection/,
    );
    assert.equal(denials, 10);
  });

  test('a new password replaces the signing key: the old creds are disconnected and refused', async () => {
    const old = await loginAs(bob);
    const closed = old.closed();
    const rotated = { ...bob.storage, password: 'Bob-Password-2' };
    assert.equal(await driver.ensureTenant(rotated, bob.owner), undefined);
    await closed;
    assert.match(await refusal(() => loginAs(bob)), /Authorization Violation/i);
    const renewed = await loginAs(bob, rotated.password);
    assert.equal((await (await new Kvm(renewed).open(bob.storage.schema)).get('secret'))?.string(), "bob's");
    assert.equal(await driver.ensureTenant(bob.storage, bob.owner), undefined);
  });

  test('kine, run from the Deployment, serves a tenant API server from the tenant bucket', async () => {
    const binaries = await ensureComponents(['kube-apiserver', 'kine']);
    const root = await mkdtemp(join(tmpdir(), 'kamaji-tenant-nats-'));
    try {
      const carol = tenant('carol', 'uid-carol');
      const password = generatePassword();
      const { schema, username } = carol.storage;
      assert.equal(await driver.ensureTenant({ schema, username, password }, carol.owner), undefined);
      const port = await freePort();
      const context = loopbackContext(port, {
        name: 'carol',
        datastore: { driver: 'NATS', endpoints: [nats.endpoint], schema },
      });
      const pki = await desiredCertificateSecrets(context, new Map(), { rotate: false });
      const caData = pki.find((secret) => secret.name === objectNames('carol').caSecret)?.data ?? {};
      const tenantCa = { certificatePem: caData['ca.crt'] ?? '', privateKeyPem: caData['ca.key'] ?? '' };
      const natsCredentials = operator.tenantCredentials(schema, username, password);
      const all: DesiredSecret[] = [
        ...pki,
        ...(await desiredKubeconfigSecrets(context, tenantCa, new Map(), { rotate: false })),
        ...(await desiredDatastoreSecrets({
          context,
          credentials: { kind: 'NATS', caCertificatePem: nats.ca.certificatePem, password, tenantCa, natsCredentials },
          username,
          existing: new Map(),
          options: { rotate: false },
        })),
      ];
      const secrets = new Map<string, SecretText>(all.map((secret) => [secret.name, secret.data]));
      const deployment = desiredDeployment({ context, podTemplateChecksum: 'test' });
      await materializePodFiles(deployment, secrets, root);
      const kine = deployment.spec?.template.spec?.containers.find((container) => container.name === 'kine');
      assert.ok(kine, 'the pod has a kine container');
      assert.ok(!JSON.stringify(deployment).includes(password), 'the password is not in the Deployment');
      const pod = await startKineAndApiServer(
        supervisor,
        deployment,
        secrets,
        'carol',
        { kine: binaries.get('kine')?.path ?? '', kubeApiServer: binaries.get('kube-apiserver')?.path ?? '' },
        root,
      );
      assert.match(pod.kineEnv.KINE_ENDPOINT ?? '', /^nats:\/\/127\.0\.0\.1:\d+\?bucket=carol_db&noEmbed&credsFile=/);
      const admin = await adminCreatingNamespace(secrets, 'carol', 'made-on-nats', KUBERNETES_VERSION);
      const core = admin.makeApiClient(CoreV1Api);
      assert.equal((await core.readNamespace({ name: 'made-on-nats' })).metadata?.name, 'made-on-nats');
      // As carol's own user: her bucket holds the objects; alice's account has no such stream.
      const asCarol = await connectNats(nats.connection, natsCredentials, 'carol');
      clients.push(asCarol);
      const keys: string[] = [];
      for await (const key of await (await new Kvm(asCarol).open(schema)).keys()) keys.push(kineKeyName(key));
      assert.ok(keys.includes(`/${schema}/namespaces/made-on-nats`), keys.join(', '));
      // Besides kine's own health key (written when the API server checks it), keys under the tenant prefix only.
      assert.deepEqual(
        keys.filter((key) => !key.startsWith(`/${schema}/`) && key !== '/registry/health'),
        [],
        'every other key of the bucket is under the tenant prefix',
      );
      const asAlice = await loginAs(alice);
      assert.match(
        await refusal(async () => (await jetstreamManager(asAlice)).streams.info(`KV_${schema}`)),
        /stream not found/,
      );
      await supervisor.stop(pod.apiServer);
      await supervisor.stop(pod.kine);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test("the key-space module reads and writes a tenant's bucket through a kine gateway with the tenant's creds (openTenantKeyspace)", async () => {
    const moved = tenant('moved', 'uid-moved');
    assert.equal(await driver.ensureTenant(moved.storage, moved.owner), undefined);
    const keyspace = await openTenantKeyspace({ kind: 'NATS', connection: nats.connection }, moved.storage, {
      kineBinary: (await ensureComponent('kine')).path,
    });
    try {
      const entries = Array.from({ length: 1_000 }, (_, index) => ({
        key: `configmaps/default/cm-${String(index).padStart(4, '0')}`,
        value: Buffer.from([index % 256, 0, 255]),
      }));
      const started = performance.now();
      assert.deepEqual(await keyspace.replace(entries), { written: 1_000, deleted: 0, unchanged: 0 });
      process.stderr.write(`NATS key space: 1,000 keys written in ${Math.round(performance.now() - started)} ms\n`);
      const snapshot = await keyspace.snapshot();
      assert.equal(snapshot.entries.length, 1_000);
      assert.deepEqual(snapshot.entries[7]?.value, Buffer.from([7, 0, 255]));
      assert.deepEqual(await keyspace.replace(entries.slice(0, 400)), { written: 0, deleted: 600, unchanged: 400 });
      assert.equal(await keyspace.count(), 400);
    } finally {
      await keyspace.close();
    }
    assert.equal((await driver.deleteTenant(moved.storage, moved.owner)).notOwned.length, 0);
  });

  test('the server restarted (down and up): the driver connects again; accounts and buckets are kept', async () => {
    await nats.restart();
    assert.equal(await driver.ensureTenant(bob.storage, bob.owner), undefined);
    const stolen = await driver.ensureTenant({ ...bob.storage, username: 'mallory' }, MALLORY);
    assert.equal(stolen?.reason, 'OwnedByAnotherTenant', 'the owner records are kept');
    const asBob = await loginAs(bob);
    assert.equal((await (await new Kvm(asBob).open(bob.storage.schema)).get('secret'))?.string(), "bob's");
  });

  test('deletion: by another TCP nothing; by the owner the bucket, account, creds and record are gone', async () => {
    const account = tenantAccountKey(nats.connection, alice.storage.schema);
    assert.deepEqual(await driver.deleteTenant(alice.storage, MALLORY), {
      deletedKeys: 0,
      notOwned: ['spec.dataStoreSchema'],
    });
    assert.equal(await driver.accountOnServer(account), true);
    const connected = await loginAs(alice);
    const closed = connected.closed();
    const deleted = await driver.deleteTenant(alice.storage, alice.owner);
    // Her own key and the one bob's session wrote into her bucket (through her login) in the isolation test.
    assert.deepEqual(deleted, { deletedKeys: 2, notOwned: [] });
    await closed;
    assert.equal(await driver.accountOnServer(account), false);
    const resolved = await readdir(join(nats.dir, 'accounts'), { recursive: true });
    assert.deepEqual(
      resolved.filter((file) => file.includes(account)),
      [],
      'no JWT of the account is kept, not even renamed',
    );
    const streamsOf = (owner: string) => readdir(join(nats.storeDir, 'jetstream', owner, 'streams')).catch(() => []);
    assert.deepEqual(await streamsOf(account), []);
    assert.deepEqual(await streamsOf(tenantAccountKey(nats.connection, bob.storage.schema)), ['KV_bob_db']);
    assert.match(await refusal(() => loginAs(alice)), /Authorization Violation/i);
    // The schema is free again, and a second deletion finds nothing of alice's.
    assert.deepEqual(await driver.deleteTenant(alice.storage, alice.owner), {
      deletedKeys: 0,
      notOwned: ['spec.dataStoreSchema'],
    });
    const taken = await driver.ensureTenant(alice.storage, MALLORY);
    assert.equal(taken, undefined);
    await driver.deleteTenant(alice.storage, MALLORY);
    // Bob's bucket is untouched.
    const asBob = await loginAs(bob);
    assert.equal((await (await new Kvm(asBob).open(bob.storage.schema)).get('secret'))?.string(), "bob's");
  });
});
