/**
 * Local datastores as a user meets them: `kamaji up --datastore postgresql --workers 1`, then `kamaji datastore add
 * mysql` and a second tenant on it, each with a worker running a pod; `datastore remove` refused while a tenant uses
 * it; deletion of the tenant leaves no database, user or owner record; `down` and `up` bring every datastore back
 * with its data. Needs root; skipped otherwise. Run: node --test test/e2e/datastores.test.ts
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { V1Node, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { runCommand } from '../../src/cluster/command.ts';
import { datastoreProcess } from '../../src/cluster/datastores/launch.ts';
import { HTTP_ECHO_IMAGE } from '../../src/cluster/image-references.ts';
import { tenantControlPlaneManifest } from '../../src/cluster/kamaji-install.ts';
import { processesOfInstance } from '../../src/cluster/node-box.ts';
import { processesMentioning, recordedPid } from '../../src/cluster/pid-files.ts';
import type { StateLayout } from '../../src/cluster/state.ts';
import { DEMO_TENANT, hostKubeconfigPath } from '../../src/cluster/up.ts';
import { decodeSecretData } from '../../src/controller/secret-data.ts';
import { withConnection } from '../../src/datastore/mysql/connection.ts';
import { withClient } from '../../src/datastore/postgresql/connection.ts';
import type { SqlConnection } from '../../src/datastore/sql/connection.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { kamaji, printed } from '../support/kamaji-cli.ts';
import { useKamajiInstance } from '../support/kamaji-instance.ts';
import { NEEDS_ROOT } from '../support/needs-root.ts';

const MYSQL_TENANT = { name: 'on-mysql', namespace: 'default', nodePort: 31446, dataStore: 'my' } as const;
const KEPT = { name: 'kept', marker: `written-${Date.now()}` } as const;

/** A pod running the test image on the tenant's worker, and one whose server fails at once (something to log). */
function pods(): V1Pod[] {
  const image = { image: HTTP_ECHO_IMAGE, imagePullPolicy: 'Always' as const };
  return [
    { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'echo' }, spec: { containers: [{ name: 'echo', ...image }] } },
    {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'says' },
      spec: {
        restartPolicy: 'Never',
        containers: [{ name: 'says', ...image, env: [{ name: 'PORT', value: 'no-such-port' }] }],
      },
    },
  ];
}

describe('local datastores: up --datastore postgresql, datastore add mysql', { skip: NEEDS_ROOT }, () => {
  const instance = useKamajiInstance('datastores');
  let workDir = '';
  let layout: StateLayout;
  let kubectlPath = '';
  let upSucceeded = false;
  const requireUp = () => assert.ok(upSucceeded, 'kamaji up --datastore postgresql did not succeed (the first test)');

  async function kubectl(kubeconfig: string, args: readonly string[], input?: string): Promise<string> {
    return (await runCommand(kubectlPath, [`--kubeconfig=${kubeconfig}`, ...args], { input })).stdout;
  }
  const admin = (...args: string[]) => kubectl(hostKubeconfigPath(layout), args);
  const adminJson = async <T>(...args: string[]) => JSON.parse(await admin(...args, '-o', 'json')) as T;

  async function tenantKubeconfig(name: string): Promise<string> {
    const printedConfig = await kamaji('kubeconfig', name, `--state-dir=${layout.root}`);
    assert.equal(printedConfig.code, 0, printed(printedConfig));
    const file = join(workDir, `${name}.kubeconfig`);
    await writeFile(file, printedConfig.stdout, { mode: 0o600 });
    return file;
  }

  async function waitForTenantReady(name: string): Promise<void> {
    await admin(
      'wait',
      `tcp/${name}`,
      `--for=jsonpath={.status.kubernetesResources.version.status}=Ready`,
      '--timeout=240s',
    );
  }

  /** The admin cluster's Nodes that are Ready. */
  async function adminNodeNames(): Promise<string[]> {
    const { items } = await adminJson<{ items: V1Node[] }>('get', 'nodes');
    const ready = (node: V1Node) =>
      node.status?.conditions?.some((condition) => condition.type === 'Ready' && condition.status === 'True');
    return items
      .filter(ready)
      .map((node) => node.metadata?.name ?? '')
      .sort();
  }

  /** The containers of the tenant's control-plane pod. */
  async function controlPlaneContainers(name: string): Promise<string[]> {
    const { items } = await adminJson<{ items: V1Pod[] }>('get', 'pods', '-l', `kamaji.clastix.io/name=${name}`);
    return (items[0]?.spec?.containers ?? []).map((container) => container.name).sort();
  }

  /** The DataStore's administrator connection, from its Secret, as the manager reads it. */
  async function administratorOf(dataStoreName: string): Promise<SqlConnection> {
    const dataStore = await adminJson<DataStore>('get', 'datastore', dataStoreName);
    const secretName = dataStore.spec.basicAuth?.username.secretReference?.name ?? '';
    const secret = decodeSecretData(await adminJson<V1Secret>('get', 'secret', '-n', 'kamaji-system', secretName));
    return {
      endpoints: dataStore.spec.endpoints,
      caCertificatePem: secret['ca.crt'] ?? '',
      username: secret.username,
      password: secret.password,
    };
  }

  /** Runs the two pods in a tenant on its worker: `kubectl exec` and `kubectl logs` work through konnectivity. */
  async function podsRunIn(kubeconfig: string, worker: string): Promise<void> {
    await kubectl(kubeconfig, ['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods() }));
    await kubectl(kubeconfig, ['wait', 'pod/echo', '--for=condition=Ready', '--timeout=180s']);
    const echo = JSON.parse(await kubectl(kubeconfig, ['get', 'pod', 'echo', '-o', 'json'])) as V1Pod;
    assert.equal(echo.spec?.nodeName, worker, 'the pod runs on the worker');
    const exec = await runCommand(
      kubectlPath,
      [`--kubeconfig=${kubeconfig}`, 'exec', 'echo', '--', '/usr/local/bin/http-echo'],
      { allowFailure: true },
    );
    // A second server in the pod: the port is its running server's, so the command ran inside the pod.
    assert.match(`${exec.stdout}${exec.stderr}`, /:8080: bind: address already in use/, 'kubectl exec');
    await kubectl(kubeconfig, ['wait', 'pod/says', '--for=jsonpath={.status.phase}=Failed', '--timeout=120s']);
    assert.match(await kubectl(kubeconfig, ['logs', 'says']), /no-such-port/, 'kubectl logs');
  }

  before(() => {
    ({ workDir, layout, kubectlPath } = instance());
  });

  test('up --datastore postgresql --admin-nodes 2: the demo tenant Ready on PostgreSQL with a kine container, a pod runs on its worker', {
    timeout: 900_000,
  }, async () => {
    const up = await kamaji(
      'up',
      `--state-dir=${layout.root}`,
      '--datastore=postgresql',
      '--workers=1',
      '--admin-nodes=2',
    );
    assert.equal(up.code, 0, printed(up));
    upSucceeded = true;
    assert.deepEqual(await adminNodeNames(), ['kamaji-admin', 'kamaji-admin-2'], 'the second admin node joined');
    const dataStore = await adminJson<DataStore>('get', 'datastore', 'default');
    assert.equal(dataStore.spec.driver, 'PostgreSQL');
    assert.deepEqual(dataStore.spec.endpoints, [`${layout.network.nodeAddress}:5432`]);
    const tcp = await adminJson<TenantControlPlane>('get', 'tcp', DEMO_TENANT.name, '-n', DEMO_TENANT.namespace);
    assert.equal(tcp.status?.kubernetesResources?.version?.status, 'Ready');
    assert.equal(tcp.status?.storage?.driver, 'PostgreSQL');
    assert.ok((await controlPlaneContainers(DEMO_TENANT.name)).includes('kine'), 'the kine container');
    const demo = await tenantKubeconfig(DEMO_TENANT.name);
    await podsRunIn(demo, 'demo-worker-1');
    await kubectl(demo, ['create', 'configmap', KEPT.name, `--from-literal=marker=${KEPT.marker}`]);
  });

  test('datastore add mysql: a tenant on it Ready with its worker and a pod; remove refused while it holds the tenant', {
    timeout: 600_000,
  }, async () => {
    requireUp();
    const add = await kamaji(
      'datastore',
      'add',
      'mysql',
      `--name=${MYSQL_TENANT.dataStore}`,
      `--state-dir=${layout.root}`,
    );
    assert.equal(add.code, 0, printed(add));
    assert.match(
      add.stdout,
      new RegExp(`DataStore ${MYSQL_TENANT.dataStore} \\(MySQL\\) at ${layout.network.nodeAddress}:3306`),
    );
    const tcp = tenantControlPlaneManifest(MYSQL_TENANT.name, MYSQL_TENANT.namespace, MYSQL_TENANT.nodePort);
    tcp.spec.dataStore = MYSQL_TENANT.dataStore;
    await kubectl(hostKubeconfigPath(layout), ['apply', '-f', '-'], JSON.stringify(tcp));
    await waitForTenantReady(MYSQL_TENANT.name);
    assert.ok((await controlPlaneContainers(MYSQL_TENANT.name)).includes('kine'), 'the kine container');
    const worker = await kamaji('worker', 'add', MYSQL_TENANT.name, `--state-dir=${layout.root}`);
    assert.equal(worker.code, 0, printed(worker));
    await podsRunIn(await tenantKubeconfig(MYSQL_TENANT.name), `${MYSQL_TENANT.name}-worker-1`);

    const list = await kamaji('datastore', 'list', `--state-dir=${layout.root}`);
    assert.match(list.stdout, /^default +postgresql .* pid \d+ +default\/demo$/m, list.stdout);
    assert.match(list.stdout, new RegExp(`^my +mysql .* pid \\d+ +default/${MYSQL_TENANT.name}$`, 'm'), list.stdout);
    const refused = await kamaji('datastore', 'remove', MYSQL_TENANT.dataStore, `--state-dir=${layout.root}`);
    assert.equal(refused.code, 1, printed(refused));
    assert.match(
      refused.stderr,
      new RegExp(`DataStore my holds TenantControlPlane\\(s\\) default/${MYSQL_TENANT.name}`),
    );
    assert.ok(await recordedPid(layout, datastoreProcess(MYSQL_TENANT.dataStore)), 'the server still runs');
  });

  test('deleting the tenant leaves no database, user or owner record on MySQL; then the DataStore is removed', {
    timeout: 300_000,
  }, async () => {
    requireUp();
    const tcp = await adminJson<TenantControlPlane>('get', 'tcp', MYSQL_TENANT.name);
    const { schema, user } = tcp.status?.storage?.setup ?? {};
    assert.ok(schema && user);
    const administrator = await administratorOf(MYSQL_TENANT.dataStore);
    const count = () =>
      withConnection(administrator, undefined, async (client) => {
        const [[databases], [users], [owners]] = await Promise.all([
          client.query('SELECT COUNT(*) AS n FROM information_schema.schemata WHERE schema_name = ?', [schema]),
          client.query('SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?', [user]),
          client.query('SELECT COUNT(*) AS n FROM kamaji.owners WHERE uid = ?', [tcp.metadata?.uid]),
        ]);
        const n = (rows: unknown) => Number((rows as { n: number }[])[0]?.n);
        return { databases: n(databases), users: n(users), owners: n(owners) };
      });
    assert.deepEqual(await count(), { databases: 1, users: 1, owners: 2 });
    const removeWorker = await kamaji(
      'worker',
      'remove',
      `${MYSQL_TENANT.name}-worker-1`,
      `--state-dir=${layout.root}`,
    );
    assert.equal(removeWorker.code, 0, printed(removeWorker));
    await admin('delete', 'tcp', MYSQL_TENANT.name, '--timeout=120s');
    assert.deepEqual(await count(), { databases: 0, users: 0, owners: 0 });

    const server = await recordedPid(layout, datastoreProcess(MYSQL_TENANT.dataStore));
    const removed = await kamaji('datastore', 'remove', MYSQL_TENANT.dataStore, `--state-dir=${layout.root}`);
    assert.equal(removed.code, 0, printed(removed));
    assert.ok(server !== undefined && !isAlive(server), 'its server is stopped');
    assert.ok(!existsSync(join(layout.root, 'datastores', MYSQL_TENANT.dataStore)), 'its data is removed');
    const names = (await admin('get', 'datastores', '-o', 'name')).trim().split('\n');
    assert.deepEqual(names, ['datastore.kamaji.clastix.io/default']);
    const secrets = await admin('get', 'secrets', '-n', 'kamaji-system', '-o', 'name');
    assert.doesNotMatch(secrets, /my-datastore-credentials/);
  });

  test('down, then up without --datastore: the PostgreSQL server starts again with the data, the demo tenant Ready, the admin nodes back', {
    timeout: 600_000,
  }, async () => {
    requireUp();
    const before = await recordedPid(layout, datastoreProcess('default'));
    const down = await kamaji('down', `--state-dir=${layout.root}`);
    assert.equal(down.code, 0, printed(down));
    assert.ok(before !== undefined && !isAlive(before), 'down stopped the PostgreSQL server');
    const up = await kamaji('up', `--state-dir=${layout.root}`, '--workers=1', '--admin-nodes=2');
    assert.equal(up.code, 0, printed(up));
    assert.match(up.stderr + up.stdout, /default: PostgreSQL 15/);
    assert.deepEqual(
      await adminNodeNames(),
      ['kamaji-admin', 'kamaji-admin-2'],
      'the same two admin nodes, none added',
    );
    assert.notEqual(await recordedPid(layout, datastoreProcess('default')), undefined);
    await waitForTenantReady(DEMO_TENANT.name);
    const demo = await tenantKubeconfig(DEMO_TENANT.name);
    const marker = await kubectl(demo, ['get', 'configmap', KEPT.name, '-o', 'jsonpath={.data.marker}']);
    assert.equal(marker, KEPT.marker, 'what the tenant wrote before down is there');
    // PostgreSQL's own processes are children of the postmaster, in the box: down stops them with it.
    const postgres = readFileSync(`/proc/${await recordedPid(layout, datastoreProcess('default'))}/cmdline`, 'utf8');
    assert.match(postgres, /postgres/);
  });

  test("the demo tenant's objects are rows of kine's table in its own database on the local PostgreSQL", {
    timeout: 60_000,
  }, async () => {
    requireUp();
    const tcp = await adminJson<TenantControlPlane>('get', 'tcp', DEMO_TENANT.name);
    const schema = tcp.status?.storage?.setup?.schema ?? '';
    const administrator = await administratorOf('default');
    const rows = await withClient(administrator, schema, (client) =>
      client.query('SELECT COUNT(*) AS n FROM kine WHERE name = $1', [`/${schema}/configmaps/default/${KEPT.name}`]),
    );
    assert.ok(Number(rows.rows[0]?.n) >= 1, `kine holds /${schema}/configmaps/default/${KEPT.name}`);
  });

  test('down --purge stops every datastore server with the rest of the instance and removes the state dir', {
    timeout: 120_000,
  }, async () => {
    requireUp();
    const holder = await recordedPid(layout, 'mount-holder');
    const server = await recordedPid(layout, datastoreProcess('default'));
    assert.ok(server, 'the PostgreSQL server runs before down');
    const down = await kamaji('down', `--state-dir=${layout.root}`, '--purge');
    assert.equal(down.code, 0, printed(down));
    const left = [...processesOfInstance(layout, holder), ...processesMentioning(layout.root), server].filter(isAlive);
    assert.deepEqual(left, [], 'no process of the instance, datastore servers included, outlives down --purge');
    assert.ok(!existsSync(layout.root));
  });
});
