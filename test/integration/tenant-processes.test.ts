import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CoordinationV1Api } from '@kubernetes/client-node';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { EtcdDriver } from '../../src/datastore/etcd/driver.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor } from '../../src/process/supervisor.ts';
import type { TenantContext } from '../../src/tenant/context.ts';
import { objectNames } from '../../src/tenant/names.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from '../../src/tenant/steps/certificates.ts';
import { desiredDatastoreSecrets } from '../../src/tenant/steps/datastore.ts';
import { desiredDeployment } from '../../src/tenant/steps/deployment.ts';
import { desiredKubeconfigSecrets } from '../../src/tenant/steps/kubeconfigs.ts';
import { ensureComponents } from '../../src/toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { waitFor } from '../../src/util/wait.ts';
import { useControlPlane } from '../support/control-plane.ts';
import { defaultedDeployment, loopbackContext } from '../support/tenant-context.ts';
import { adminCreatingNamespace, containerArgsUnder, materializePodFiles } from '../support/tenant-pod.ts';

/** Builds every Secret and the Deployment of one tenant whose datastore is the harness etcd. */
async function buildTenant(context: TenantContext, etcdCa: { certificatePem: string; privateKeyPem: string }) {
  const pki = await desiredCertificateSecrets(context, new Map(), { rotate: false });
  const caData = pki.find((secret) => secret.name === objectNames(context.name).caSecret)?.data ?? {};
  const ca = { certificatePem: caData['ca.crt'] ?? '', privateKeyPem: caData['ca.key'] ?? '' };
  const kubeconfigs = await desiredKubeconfigSecrets(context, ca, new Map(), { rotate: false });
  const username = `${context.name}-user`;
  const datastore = await desiredDatastoreSecrets({
    context,
    credentials: { kind: 'etcd', datastoreCa: etcdCa },
    username,
    existing: new Map(),
    options: { rotate: false },
  });
  const all: DesiredSecret[] = [...pki, ...kubeconfigs, ...datastore];
  const secrets = new Map<string, SecretText>(all.map((secret) => [secret.name, secret.data]));
  return { secrets, username, deployment: desiredDeployment({ context, podTemplateChecksum: 'test' }) };
}

describe('a tenant control plane built from the Deployment runs against the shared etcd', () => {
  const harness = useControlPlane();
  const supervisor = new Supervisor();
  let root = '';

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'kamaji-tenant-pod-'));
  });

  after(async () => {
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), []);
    await rm(root, { recursive: true, force: true });
  });

  test('kube-apiserver, controller-manager and scheduler start with the generated arguments and credentials', async () => {
    const binaries = await ensureComponents(['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']);
    const { etcd } = harness();
    const port = await freePort();
    const context = loopbackContext(port, {
      name: 'alpha',
      datastore: { driver: 'etcd', endpoints: [etcd.endpoint], schema: 'tenants_alpha' },
      deployment: {
        ...defaultedDeployment(),
        extraArgs: {
          apiServer: ['--etcd-prefix=/stolen', '--v=1'],
          controllerManager: [`--secure-port=${await freePort()}`],
          scheduler: [`--secure-port=${await freePort()}`],
        },
      },
    });
    const tenant = await buildTenant(context, etcd.ca);
    const driver = new EtcdDriver(etcd.root);
    try {
      const owner = { uid: 'alpha-uid', namespace: 'tenants', name: 'alpha' };
      assert.equal(await driver.ensureTenant({ schema: 'tenants_alpha', username: tenant.username }, owner), undefined);
      assert.equal(await driver.ensureTenant({ schema: 'tenants_alpha', username: tenant.username }, owner), undefined);
    } finally {
      driver.close();
    }
    await materializePodFiles(tenant.deployment, tenant.secrets, root);

    const apiserverArgs = containerArgsUnder(tenant.deployment, 'kube-apiserver', root);
    assert.ok(apiserverArgs.includes('--etcd-prefix=/tenants_alpha'), 'the managed prefix wins over extraArgs');
    assert.ok(apiserverArgs.includes('--v=1'), 'other extraArgs are kept');
    for (const component of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler']) {
      supervisor.start({
        name: component,
        command: binaries.get(component)?.path ?? '',
        args: containerArgsUnder(tenant.deployment, component, root),
        logFile: join(root, `${component}.log`),
      });
    }

    const admin = await adminCreatingNamespace(tenant.secrets, 'alpha', 'made-by-tenant-admin', KUBERNETES_VERSION);

    // Leader-election Leases appear only when the controller-manager and scheduler authenticated and are authorised.
    const coordination = admin.makeApiClient(CoordinationV1Api);
    for (const lease of ['kube-controller-manager', 'kube-scheduler']) {
      await waitFor(() => coordination.readNamespacedLease({ name: lease, namespace: 'kube-system' }), {
        timeoutMs: 60_000,
        intervalMs: 500,
        description: `the ${lease} Lease`,
      });
    }

    const rootClient = connectEtcd(etcd.root);
    try {
      const tenantKeys = await rootClient.getAll().prefix('/tenants_alpha/').keys();
      assert.ok(
        tenantKeys.includes('/tenants_alpha/namespaces/made-by-tenant-admin'),
        'the Namespace is under the prefix',
      );
      const elsewhere = (await rootClient.getAll().keys()).filter(
        (key) => key.includes('made-by-tenant-admin') && !key.startsWith('/tenants_alpha/'),
      );
      assert.deepEqual(elsewhere, [], 'nothing of the tenant outside its prefix');
    } finally {
      rootClient.close();
    }
  });
});
