import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AppsV1Api, CoreV1Api, KubeConfig, type V1Deployment, VersionApi } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import type { Kubeconfig } from '../../src/pki/kubeconfig.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { waitFor } from '../../src/util/wait.ts';
import { NAMESPACE, useOperator } from '../support/operator.ts';
import { materializePodFiles } from '../support/tenant-pod.ts';

describe('kamaji manager on a real kube-apiserver and a shared etcd', () => {
  const operator = useOperator();
  const supervisor = new Supervisor();
  let work = '';
  const harness = () => operator().harness;

  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'kamaji-operator-test-'));
  });

  after(async () => {
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    await rm(work, { recursive: true, force: true });
  });

  test('a TCP as a user writes it gets every object, with correct certificates, kubeconfigs and status', async () => {
    await operator().createTenant('alpha', await freePort());
    const tcp = await operator().waitProvisioned('alpha');
    assert.equal(tcp.spec.dataStore, 'default');
    assert.match(tcp.spec.dataStoreSchema ?? '', /^[0-9a-f_]{36}$/, 'schema defaulted from the UID');
    assert.equal(tcp.status?.kubernetesResources?.version?.status, 'Provisioning');
    const events = await waitFor(
      async () => {
        const { items } = await operator().core.listNamespacedEvent({
          namespace: NAMESPACE,
          fieldSelector: 'involvedObject.name=alpha',
        });
        return items.some((event) => event.reason === 'Provisioning') ? items : undefined;
      },
      { timeoutMs: 10_000, description: 'an event saying the tenant is Provisioning' },
    );
    assert.equal(events.find((event) => event.reason === 'Provisioning')?.type, 'Normal');
    assert.equal(tcp.status?.storage?.dataStoreName, 'default');
    assert.ok(tcp.metadata.finalizers?.includes('finalizer.kamaji.clastix.io'));

    const secrets = await operator().secretsOf('alpha');
    assert.deepEqual([...secrets.keys()].sort(), [
      'alpha-admin-kubeconfig',
      'alpha-api-server-certificate',
      'alpha-api-server-kubelet-client-certificate',
      'alpha-ca',
      'alpha-controller-manager-kubeconfig',
      'alpha-datastore-certificate',
      'alpha-datastore-config',
      'alpha-front-proxy-ca-certificate',
      'alpha-front-proxy-client-certificate',
      'alpha-sa-certificate',
      'alpha-scheduler-kubeconfig',
    ]);
    const service = await operator().core.readNamespacedService({ name: 'alpha', namespace: NAMESPACE });
    const clusterIp = service.spec?.clusterIP ?? '';
    assert.equal(tcp.status?.controlPlaneEndpoint, `${clusterIp}:${tcp.spec.networkProfile?.port}`);

    const ca = new X509Certificate(secrets.get('alpha-ca')?.['ca.crt'] ?? '');
    const serving = new X509Certificate(secrets.get('alpha-api-server-certificate')?.['apiserver.crt'] ?? '');
    assert.ok(serving.checkIssued(ca) && serving.verify(ca.publicKey));
    for (const host of [
      'alpha',
      'alpha.tenants',
      'alpha.tenants.svc',
      'alpha.tenants.svc.cluster.local',
      'kubernetes.default',
    ]) {
      assert.equal(serving.checkHost(host), host);
    }
    for (const ip of [clusterIp, '10.96.0.1']) assert.equal(serving.checkIP(ip), ip);
    const datastoreClient = new X509Certificate(secrets.get('alpha-datastore-certificate')?.['server.crt'] ?? '');
    assert.equal(datastoreClient.subject, `CN=${tcp.spec.dataStoreUsername}`);
    assert.ok(datastoreClient.checkIssued(new X509Certificate(harness().etcd.ca.certificatePem)));

    const admin = parse(secrets.get('alpha-admin-kubeconfig')?.['admin.conf'] ?? '') as Kubeconfig;
    assert.equal(admin.clusters[0]?.cluster.server, `https://${tcp.status?.controlPlaneEndpoint}`);
    assert.equal(
      Buffer.from(admin.clusters[0]?.cluster['certificate-authority-data'] ?? '', 'base64').toString(),
      secrets.get('alpha-ca')?.['ca.crt'],
    );

    const deployment = await operator()
      .config.makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'alpha', namespace: NAMESPACE });
    assert.equal(deployment.metadata?.ownerReferences?.[0]?.name, 'alpha');
    assert.ok(
      deployment.spec?.template.spec?.containers[0]?.args?.includes(`--etcd-prefix=/${tcp.spec.dataStoreSchema}`),
    );
  });

  test("the Deployment's kube-apiserver, given the Secrets, serves the TCP's version and its super-admin kubeconfig works", async () => {
    const tcp = await operator().readTenant('alpha');
    const port = tcp.spec.networkProfile?.port ?? 0;
    const deployment = await operator()
      .config.makeApiClient(AppsV1Api)
      .readNamespacedDeployment({ name: 'alpha', namespace: NAMESPACE });
    const root = join(work, 'alpha');
    await materializePodFiles(deployment as V1Deployment, await operator().secretsOf('alpha'), root);
    const args = (deployment.spec?.template.spec?.containers[0]?.args ?? []).map((arg) =>
      arg.replaceAll('=/etc/kubernetes', `=${root}/etc/kubernetes`),
    );
    supervisor.start({
      name: 'tenant-apiserver',
      command: (await ensureComponent('kube-apiserver')).path,
      args,
      logFile: join(work, 'alpha-apiserver.log'),
    });
    // The cluster IP is not routed on this host: reach the same server on loopback, which the certificate also names.
    // super-admin.conf (system:masters): admin.conf is authorised by the kubeadm:cluster-admins binding, which the
    // kubeadm phase creates in a tenant that runs as a Deployment, not in this hand-started API server.
    const adminYaml = (await operator().secretsOf('alpha')).get('alpha-admin-kubeconfig')?.['super-admin.conf'] ?? '';
    const admin = new KubeConfig();
    admin.loadFromString(adminYaml.replace(/server: "?https:\/\/[^\n]+/, `server: "https://127.0.0.1:${port}"`));
    const version = await waitFor(() => admin.makeApiClient(VersionApi).getCode(), {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: 'the tenant API server',
    });
    assert.equal(version.gitVersion, KUBERNETES_VERSION);
    await waitFor(
      () => admin.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name: 'from-alpha' } } }),
      {
        timeoutMs: 30_000,
        description: 'a Namespace created with the admin kubeconfig',
      },
    );
    const rootClient = connectEtcd(harness().etcd.root);
    try {
      const keys = await rootClient.getAll().prefix(`/${tcp.spec.dataStoreSchema}/`).keys();
      assert.ok(keys.includes(`/${tcp.spec.dataStoreSchema}/namespaces/from-alpha`));
    } finally {
      rootClient.close();
    }
  });

  test("two tenants on one DataStore: each tenant's etcd certificate is denied on the other's keys and the root", async () => {
    await operator().createTenant('beta', await freePort());
    const [alpha, beta] = [await operator().waitProvisioned('alpha'), await operator().waitProvisioned('beta')];
    const rootClient = connectEtcd(harness().etcd.root);
    await rootClient.put(`/${beta.spec.dataStoreSchema}/probe`).value('beta data');
    await rootClient.put(`/${alpha.spec.dataStoreSchema}/probe`).value('alpha data');
    rootClient.close();
    let denied = 0;
    for (const [self, other] of [
      [alpha, beta],
      [beta, alpha],
    ] as const) {
      const name = self.metadata.name ?? '';
      const certificate = (await operator().secretsOf(name)).get(`${name}-datastore-certificate`) ?? {};
      const client = connectEtcd({
        endpoints: [harness().etcd.endpoint],
        caCertificatePem: certificate['ca.crt'] ?? '',
        clientCertificatePem: certificate['server.crt'],
        clientKeyPem: certificate['server.key'],
      });
      try {
        assert.ok(await client.get(`/${self.spec.dataStoreSchema}/probe`).string(), 'its own keys are readable');
        const attempts = [
          () => client.get(`/${other.spec.dataStoreSchema}/probe`).string(),
          () => client.put(`/${other.spec.dataStoreSchema}/x`).value('y').exec(),
          () => client.getAll().prefix('/registry/').keys(),
          () => client.getAll().keys(),
        ];
        for (const attempt of attempts) {
          await assert.rejects(attempt(), /permission denied/i);
          denied += 1;
        }
      } finally {
        client.close();
      }
    }
    assert.equal(denied, 8);
  });

  test('deleting a TCP removes every key under its prefix, its etcd user and role, and its objects', async () => {
    const beta = await operator().readTenant('beta');
    await operator().deleteTenant('beta');
    const rootClient = connectEtcd(harness().etcd.root);
    try {
      assert.deepEqual(await rootClient.getAll().prefix(`/${beta.spec.dataStoreSchema}/`).keys(), []);
      const users = (await rootClient.auth.userList()).users ?? [];
      assert.ok(!users.includes(beta.spec.dataStoreUsername ?? ''), 'user deleted');
      const roles = (await rootClient.auth.roleList()).roles ?? [];
      assert.ok(!roles.includes(beta.spec.dataStoreUsername ?? ''), 'role deleted');
    } finally {
      rootClient.close();
    }
    assert.equal((await operator().secretsOf('beta')).size, 0);
  });

  // A graceful restart: stop() lets the in-flight reconcile finish. Crashes (SIGKILL at precise points of a
  // reconcile) are tested in crash-safety.test.ts.
  test('a manager stopped gracefully mid-reconcile and started again completes the TCP with nothing duplicated', async () => {
    await operator().restartManager();
    await operator().createTenant('gamma', await freePort());
    await new Promise((resolve) => setTimeout(resolve, 150));
    await operator().restartManager();
    const gamma = await operator().waitProvisioned('gamma');
    const secrets = await operator().secretsOf('gamma');
    assert.equal(secrets.size, 11);
    const ca = new X509Certificate(secrets.get('gamma-ca')?.['ca.crt'] ?? '');
    for (const [secret, key] of [
      ['gamma-api-server-certificate', 'apiserver.crt'],
      ['gamma-api-server-kubelet-client-certificate', 'apiserver-kubelet-client.crt'],
    ] as const) {
      assert.ok(
        new X509Certificate(secrets.get(secret)?.[key] ?? '').checkIssued(ca),
        `${secret} chains to the one CA`,
      );
    }
    const { items } = await operator()
      .config.makeApiClient(AppsV1Api)
      .listNamespacedDeployment({ namespace: NAMESPACE, labelSelector: 'kamaji.clastix.io/name=gamma' });
    assert.equal(items.length, 1);
    assert.equal(
      gamma.metadata.finalizers?.filter((finalizer) => finalizer === 'finalizer.kamaji.clastix.io').length,
      1,
    );
  });
});
