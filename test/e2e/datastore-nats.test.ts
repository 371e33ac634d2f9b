/**
 * `kamaji up --datastore nats --workers 1`: the demo tenant Ready on NATS with a kine container and a pod on its
 * worker; a second tenant on the same NATS DataStore (upstream allows one) Ready, in an account of its own; its
 * deletion leaves no account on the server. Needs root; skipped otherwise. Run: node --test test/e2e/datastore-nats.test.ts
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { V1Pod, V1Secret } from '@kubernetes/client-node';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { HTTP_ECHO_IMAGE } from '../../src/cluster/image-references.ts';
import { tenantControlPlaneManifest } from '../../src/cluster/kamaji-install.ts';
import { DEMO_TENANT, hostKubeconfigPath } from '../../src/cluster/up.ts';
import { decodeSecretData } from '../../src/controller/secret-data.ts';
import type { NatsConnection } from '../../src/datastore/nats/connection.ts';
import { NatsDriver, tenantAccountKey } from '../../src/datastore/nats/driver.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const SECOND = { name: 'second-on-nats', namespace: 'default', nodePort: 31447 } as const;

describe('up --datastore nats: tenants in accounts of their own on one NATS server', { skip: NEEDS_ROOT }, () => {
  const instance = useKamajiInstance('nats');
  let upSucceeded = false;
  const requireUp = () => assert.ok(upSucceeded, 'kamaji up --datastore nats did not succeed (the first test)');

  async function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<string> {
    return (await runCommand(instance().kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args], { input })).stdout;
  }
  const admin = (...args: string[]) => kubectl(hostKubeconfigPath(instance().layout), args);
  const adminJson = async <T>(...args: string[]) => JSON.parse(await admin(...args, '-o', 'json')) as T;

  /** The DataStore's connection, from its Secret, as the manager reads it. */
  async function natsConnection(): Promise<NatsConnection> {
    const dataStore = await adminJson<DataStore>('get', 'datastore', 'default');
    const secretName = dataStore.spec.basicAuth?.password.secretReference?.name ?? '';
    const secret = decodeSecretData(await adminJson<V1Secret>('get', 'secret', '-n', 'kamaji-system', secretName));
    return {
      endpoints: dataStore.spec.endpoints,
      caCertificatePem: secret['ca.crt'] ?? '',
      operatorSeed: secret.password ?? '',
    };
  }

  async function schemaOf(name: string): Promise<string> {
    const tcp = await adminJson<TenantControlPlane>('get', 'tcp', name, '-n', 'default');
    const schema = tcp.status?.storage?.setup?.schema;
    assert.ok(schema, `${name} has status.storage.setup.schema`);
    return schema;
  }

  test('the demo tenant Ready on NATS with a kine container; a pod runs on its worker', {
    timeout: 900_000,
  }, async () => {
    const { layout, workDir } = instance();
    const up = await kamaji('up', `--state-dir=${layout.root}`, '--datastore=nats', '--workers=1');
    assert.equal(up.code, 0, printed(up));
    upSucceeded = true;
    const dataStore = await adminJson<DataStore>('get', 'datastore', 'default');
    assert.equal(dataStore.spec.driver, 'NATS');
    assert.deepEqual(dataStore.spec.endpoints, [`${layout.network.nodeAddress}:4222`]);
    const tcp = await adminJson<TenantControlPlane>('get', 'tcp', DEMO_TENANT.name, '-n', DEMO_TENANT.namespace);
    assert.equal(tcp.status?.kubernetesResources?.version?.status, 'Ready');
    const { items } = await adminJson<{ items: V1Pod[] }>(
      'get',
      'pods',
      '-l',
      `kamaji.clastix.io/name=${DEMO_TENANT.name}`,
    );
    const containers = (items[0]?.spec?.containers ?? []).map((container) => container.name);
    assert.ok(containers.includes('kine'), `containers: ${containers.join(', ')}`);
    const kubeconfig = join(workDir, 'demo.kubeconfig');
    const printedConfig = await kamaji('kubeconfig', DEMO_TENANT.name, `--state-dir=${layout.root}`);
    await writeFile(kubeconfig, printedConfig.stdout, { mode: 0o600 });
    const pod: V1Pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'echo' },
      spec: { containers: [{ name: 'echo', image: HTTP_ECHO_IMAGE, imagePullPolicy: 'Always' }] },
    };
    await kubectl(kubeconfig, ['apply', '-f', '-'], JSON.stringify(pod));
    await kubectl(kubeconfig, ['wait', 'pod/echo', '--for=condition=Ready', '--timeout=180s']);
    const echo = JSON.parse(await kubectl(kubeconfig, ['get', 'pod', 'echo', '-o', 'json'])) as V1Pod;
    assert.equal(echo.spec?.nodeName, 'demo-worker-1', 'the pod runs on the worker');
    // The host reaches the server as the manager does, with the DataStore's own Secret.
    const driver = new NatsDriver(await natsConnection());
    try {
      await driver.check();
    } finally {
      driver.close();
    }
  });

  test('a second tenant on the same NATS DataStore: Ready, in its own account; deleted, its account is gone', {
    timeout: 600_000,
  }, async () => {
    requireUp();
    const tcp = tenantControlPlaneManifest(SECOND.name, SECOND.namespace, SECOND.nodePort);
    await kubectl(hostKubeconfigPath(instance().layout), ['apply', '-f', '-'], JSON.stringify(tcp));
    await admin(
      'wait',
      `tcp/${SECOND.name}`,
      '--for=jsonpath={.status.kubernetesResources.version.status}=Ready',
      '--timeout=240s',
    );
    const connection = await natsConnection();
    const [demoAccount, secondAccount] = [
      tenantAccountKey(connection, await schemaOf(DEMO_TENANT.name)),
      tenantAccountKey(connection, await schemaOf(SECOND.name)),
    ];
    assert.notEqual(demoAccount, secondAccount);
    const driver = new NatsDriver(connection);
    try {
      assert.equal(await driver.accountOnServer(secondAccount), true);
      await admin('delete', 'tcp', SECOND.name, '-n', SECOND.namespace, '--wait=true', '--timeout=180s');
      assert.equal(await driver.accountOnServer(secondAccount), false, "the second tenant's account is gone");
      assert.equal(await driver.accountOnServer(demoAccount), true, "the demo tenant's account stays");
    } finally {
      driver.close();
    }
  });
});
