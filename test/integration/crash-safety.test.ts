import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { Range } from 'etcd3';
import { parse } from 'yaml';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import type { Kubeconfig } from '../../src/pki/kubeconfig.ts';
import { exitedWithLog, type SupervisedProcess } from '../../src/process/supervisor.ts';
import type { SecretText } from '../../src/tenant/steps/certificates.ts';
import { waitFor } from '../../src/util/wait.ts';
import { NAMESPACE, tcps, useKamajiCluster } from '../support/kamaji-cluster.ts';
import {
  type KillPoint,
  type KillSwitchProxy,
  type ProxiedCall,
  startKillSwitchProxy,
} from '../support/kill-switch-proxy.ts';
import { killNow, logOf, startManagerProcess } from '../support/manager-process.ts';

const FINALIZER = 'finalizer.kamaji.clastix.io';
const tcpPath = (name: string) =>
  `/apis/kamaji.clastix.io/v1alpha1/namespaces/${NAMESPACE}/tenantcontrolplanes/${name}`;
const secretPath = (name: string) => `/api/v1/namespaces/${NAMESPACE}/secrets/${name}`;
const deploymentPath = (name: string) => `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/${name}`;
const SECRET_SUFFIXES = [
  'admin-kubeconfig',
  'api-server-certificate',
  'api-server-kubelet-client-certificate',
  'ca',
  'controller-manager-kubeconfig',
  'datastore-certificate',
  'datastore-config',
  'front-proxy-ca-certificate',
  'front-proxy-client-certificate',
  'sa-certificate',
  'scheduler-kubeconfig',
];
/** Leaf certificates the tenant CA signs, Secret by Secret. */
const TENANT_CA_LEAVES = [
  'api-server-certificate',
  'api-server-kubelet-client-certificate',
  'admin-kubeconfig',
  'controller-manager-kubeconfig',
  'scheduler-kubeconfig',
];

/** The last calls a proxy saw, for a timeout message. */
function describeCalls(proxy: KillSwitchProxy): string {
  return proxy.calls
    .slice(-15)
    .map((call) => `${call.method} ${call.path} → ${call.status ?? call.fate}`)
    .join('; ');
}

/** A call that changes something about tenant `name` (its objects, its events). */
function writesAbout(call: ProxiedCall, name: string): boolean {
  return (
    call.method !== 'GET' &&
    call.path.includes(`/namespaces/${NAMESPACE}/`) &&
    (call.path.includes(`/${name}`) || call.body.includes(`"${name}`))
  );
}

/** A `kamaji manager` child process whose every API call goes through a kill switch. */
interface Victim {
  proxy: KillSwitchProxy;
  process: SupervisedProcess;
}

/** Every certificate in a Secret: PEM values, and the base64 fields of kubeconfigs. */
function certificatesIn(secretName: string, data: SecretText): { where: string; certificate: X509Certificate }[] {
  const found: { where: string; certificate: X509Certificate }[] = [];
  for (const [key, value] of Object.entries(data)) {
    if (key.endsWith('.conf')) {
      const kubeconfig = parse(value) as Kubeconfig;
      for (const { cluster } of kubeconfig.clusters) {
        const der = Buffer.from(cluster['certificate-authority-data'], 'base64');
        found.push({ where: `${secretName} ${key} certificate-authority-data`, certificate: new X509Certificate(der) });
      }
      for (const { user } of kubeconfig.users) {
        const der = Buffer.from(user['client-certificate-data'], 'base64');
        found.push({ where: `${secretName} ${key} client-certificate-data`, certificate: new X509Certificate(der) });
      }
      continue;
    }
    for (const pem of value.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []) {
      found.push({ where: `${secretName} ${key}`, certificate: new X509Certificate(pem) });
    }
  }
  return found;
}

describe('kamaji manager SIGKILLed at precise points of a reconcile, then restarted', () => {
  const cluster = useKamajiCluster();

  async function startVictim(tenant: string): Promise<Victim> {
    const proxy = await startKillSwitchProxy(cluster().harness.kubeconfigYaml);
    const process = await startManagerProcess(cluster().supervisor, {
      name: `${tenant}-killed`,
      dir: cluster().dir,
      kubeconfigYaml: proxy.kubeconfigYaml,
    });
    return { proxy, process };
  }

  /**
   * Arms the victim's kill switch with `point`, runs `trigger`, and waits until the switch killed the manager;
   * asserts that it died of that SIGKILL. Returns the call that tripped the switch.
   */
  async function killAt(victim: Victim, point: KillPoint, trigger: () => Promise<unknown>): Promise<ProxiedCall> {
    const fired = victim.proxy.arm(point, () => killNow(victim.process));
    let timer: NodeJS.Timeout | undefined;
    try {
      await trigger();
      const call = await new Promise<ProxiedCall>((resolve, reject) => {
        void fired.then(resolve);
        void victim.process.exited.then(async (how) => {
          // Killed by the switch: `fired` has resolved already. Otherwise it died on its own.
          await new Promise((settle) => setTimeout(settle, 500));
          reject(new Error(`the manager exited (${how}) before ${point.description}:\n${await logOf(victim.process)}`));
        });
        timer = setTimeout(
          () => reject(new Error(`30 s and no call matched ${point.description}: ${describeCalls(victim.proxy)}`)),
          30_000,
        );
      });
      assert.equal(await victim.process.exited, 'SIGKILL', 'the manager died of the SIGKILL');
      return call;
    } finally {
      clearTimeout(timer);
      await victim.proxy.close();
    }
  }

  /** A fresh manager straight on the API server (no kill switch), stopped by the returned function. */
  async function restartManager(tenant: string): Promise<SupervisedProcess> {
    return startManagerProcess(cluster().supervisor, {
      name: `${tenant}-restarted`,
      dir: cluster().dir,
      kubeconfigYaml: cluster().harness.kubeconfigYaml,
    });
  }

  /** What exists of a tenant: keys under its prefix, its etcd user and role (by its name), its API objects. */
  async function countsOf(tcp: TenantControlPlane) {
    const { etcd, core, apps } = cluster();
    const user = tcp.status?.storage?.setup?.user ?? tcp.spec.dataStoreUsername ?? '';
    assert.ok(user && tcp.spec.dataStoreSchema, 'the tenant was claimed: it has a datastore user and schema');
    const labelSelector = `kamaji.clastix.io/name=${tcp.metadata.name}`;
    const [keys, users, roles, secrets, deployments, services] = await Promise.all([
      etcd
        .getAll()
        .prefix(`/${tcp.spec.dataStoreSchema}/`)
        .keys()
        .then((found) => found.length),
      etcd.auth.userList().then(({ users }) => (users ?? []).filter((name) => name === user).length),
      etcd.auth.roleList().then(({ roles }) => (roles ?? []).filter((name) => name === user).length),
      core.listNamespacedSecret({ namespace: NAMESPACE, labelSelector }).then(({ items }) => items.length),
      apps.listNamespacedDeployment({ namespace: NAMESPACE, labelSelector }).then(({ items }) => items.length),
      core.listNamespacedService({ namespace: NAMESPACE, labelSelector }).then(({ items }) => items.length),
    ]);
    return { keys, users, roles, secrets, deployments, services };
  }

  /**
   * The end state of a provisioned tenant, with nothing duplicated: one finalizer, the eleven Secrets, one CA
   * (every certificate in every Secret either is one of the three authorities or chains to the right one), one
   * etcd user with one role granting exactly `/<schema>/`, one Deployment, one Service.
   */
  async function assertProvisionedOnce(tcp: TenantControlPlane): Promise<void> {
    const name = tcp.metadata.name ?? '';
    const schema = tcp.spec.dataStoreSchema ?? '';
    const user = tcp.status?.storage?.setup?.user ?? '';
    assert.equal(tcp.metadata.finalizers?.filter((finalizer) => finalizer === FINALIZER).length, 1);

    const secrets = await cluster().secretsOf(name);
    assert.deepEqual(
      [...secrets.keys()].sort(),
      SECRET_SUFFIXES.map((suffix) => `${name}-${suffix}`),
    );
    const caSecrets = [...secrets].filter(([, data]) => data['ca.key'] !== undefined).map(([secret]) => secret);
    assert.deepEqual(caSecrets, [`${name}-ca`], 'exactly one Secret holds the tenant CA');
    const tenantCa = new X509Certificate(secrets.get(`${name}-ca`)?.['ca.crt'] ?? '');
    const frontProxyCa = new X509Certificate(
      secrets.get(`${name}-front-proxy-ca-certificate`)?.['front-proxy-ca.crt'] ?? '',
    );
    const dataStoreCa = new X509Certificate(cluster().harness.etcd.ca.certificatePem);
    const authorities = [tenantCa, frontProxyCa, dataStoreCa];
    let leaves = 0;
    for (const [secretName, data] of secrets) {
      for (const { where, certificate } of certificatesIn(secretName, data)) {
        if (certificate.ca) {
          assert.ok(
            authorities.some((authority) => authority.fingerprint256 === certificate.fingerprint256),
            `${where} is a CA, but not the tenant's (${secretName.endsWith('-ca') ? 'a second one' : 'stale'})`,
          );
          continue;
        }
        const issuer =
          secretName === `${name}-front-proxy-client-certificate`
            ? frontProxyCa
            : secretName === `${name}-datastore-certificate`
              ? dataStoreCa
              : tenantCa;
        assert.ok(
          certificate.checkIssued(issuer) && certificate.verify(issuer.publicKey),
          `${where} (${certificate.subject}) chains to ${issuer.subject}`,
        );
        leaves += 1;
      }
    }
    // apiserver, kubelet client, 4 kubeconfig users (admin, super-admin, controller-manager, scheduler),
    // front-proxy client, datastore client: the check above is not vacuous.
    assert.ok(leaves >= TENANT_CA_LEAVES.length + 3, `only ${leaves} leaf certificates found`);

    const { etcd } = cluster();
    assert.deepEqual(
      (await etcd.user(user).roles()).map((role) => role.name),
      [user],
      'the tenant user has its own role and no other',
    );
    const permissions = await etcd.role(user).permissions();
    const prefix = Range.prefix(`/${schema}/`);
    assert.equal(permissions.length, 1, `one permission, not ${JSON.stringify(permissions)}`);
    assert.equal(permissions[0]?.permission, 'Readwrite');
    assert.ok(permissions[0]?.range.start.equals(prefix.start) && permissions[0].range.end.equals(prefix.end));

    const counts = await countsOf(tcp);
    assert.deepEqual(
      { users: counts.users, roles: counts.roles, deployments: counts.deployments, services: counts.services },
      { users: 1, roles: 1, deployments: 1, services: 1 },
    );
  }

  /** Restarts the manager (no kill switch), waits until the tenant is provisioned, checks it, stops the manager. */
  async function restartAndAssertProvisioned(name: string): Promise<void> {
    const manager = await restartManager(name);
    try {
      const tcp = await cluster().waitProvisioned(name, { giveUp: () => exitedWithLog(manager) });
      await assertProvisionedOnce(tcp);
    } finally {
      await cluster().supervisor.stop(manager);
    }
  }

  test('killed once the claim (finalizer and datastore fields in one patch) was answered', async (t) => {
    const name = 'after-claim';
    const victim = await startVictim(name);
    await killAt(
      victim,
      {
        description: 'the claim patch answered',
        when: 'after-response',
        matches: (call) => call.method === 'PATCH' && call.path === tcpPath(name) && call.body.includes(FINALIZER),
      },
      () => cluster().createTenant(name),
    );
    const claimed = await cluster().readTenant(name);
    assert.ok(claimed?.metadata.finalizers?.includes(FINALIZER), 'the claim was written');
    assert.ok(claimed);
    assert.ok(claimed.spec.dataStoreSchema && claimed.spec.dataStoreUsername, 'with the datastore fields');
    assert.equal(claimed.status?.kubeconfig, undefined, 'not provisioned');
    t.diagnostic(`at the kill: ${JSON.stringify(await countsOf(claimed))}`);
    await restartAndAssertProvisioned(name);
  });

  test('killed once the first Secret was written, the others never forwarded', async (t) => {
    const name = 'first-secret';
    const victim = await startVictim(name);
    const call = await killAt(
      victim,
      {
        description: 'the first Secret applied',
        when: 'after-response',
        matches: (candidate) => candidate.method === 'PATCH' && candidate.path.startsWith(secretPath(`${name}-`)),
      },
      () => cluster().createTenant(name),
    );
    const written = await cluster().secretsOf(name);
    t.diagnostic(`the first Secret written: ${call.path}`);
    assert.deepEqual([...written.keys()], [call.path.slice(call.path.lastIndexOf('/') + 1)], 'only that Secret');
    const tcp = await cluster().readTenant(name);
    assert.ok(tcp);
    t.diagnostic(`at the kill: ${JSON.stringify(await countsOf(tcp))}`);
    await restartAndAssertProvisioned(name);
  });

  test('killed once a leaf certificate Secret was written while its CA never was', async (t) => {
    const name = 'orphan-leaf';
    const victim = await startVictim(name);
    const caSecrets = [secretPath(`${name}-ca`), secretPath(`${name}-front-proxy-ca-certificate`)];
    const heldCas = victim.proxy.hold((call) => call.method === 'PATCH' && caSecrets.includes(call.path));
    const leaves = TENANT_CA_LEAVES.map((suffix) => secretPath(`${name}-${suffix}`));
    const call = await killAt(
      victim,
      {
        description: 'the first leaf Secret signed by the tenant CA applied',
        when: 'after-response',
        matches: (candidate) => candidate.method === 'PATCH' && leaves.includes(candidate.path),
      },
      () => cluster().createTenant(name),
    );
    assert.ok(heldCas.held().length > 0, 'the CA Secret write was held');
    const written = await cluster().secretsOf(name);
    const leaf = call.path.slice(call.path.lastIndexOf('/') + 1);
    t.diagnostic(`written before the kill: ${[...written.keys()].join(', ')}`);
    assert.ok(written.has(leaf), `${leaf} was written`);
    assert.ok(!written.has(`${name}-ca`) && !written.has(`${name}-front-proxy-ca-certificate`), 'no CA was written');
    await restartAndAssertProvisioned(name);
  });

  test('killed after the datastore grant, before the next write is forwarded', async (t) => {
    const name = 'after-grant';
    const victim = await startVictim(name);
    // Whatever the order of the steps: the first write about the tenant once etcd has its user, with its role,
    // with its permission.
    let user = '';
    const granted = async () => {
      user ||= (await cluster().readTenant(name))?.spec.dataStoreUsername ?? '';
      if (!user || !((await cluster().etcd.auth.userList()).users ?? []).includes(user)) return false;
      const { etcd } = cluster();
      const roles = await etcd.user(user).roles();
      return roles.some((role) => role.name === user) && (await etcd.role(user).permissions()).length > 0;
    };
    const call = await killAt(
      victim,
      {
        description: 'the first write about the tenant after the datastore grant',
        when: 'before-forwarding',
        matches: async (candidate) => writesAbout(candidate, name) && (await granted()),
      },
      () => cluster().createTenant(name),
    );
    const tcp = await cluster().readTenant(name);
    assert.ok(tcp);
    const counts = await countsOf(tcp);
    t.diagnostic(`killed before ${call.method} ${call.path}; at the kill: ${JSON.stringify(counts)}`);
    assert.deepEqual({ users: counts.users, roles: counts.roles }, { users: 1, roles: 1 }, 'granted');
    await restartAndAssertProvisioned(name);
  });

  test('killed once the Deployment apply was answered', async (t) => {
    const name = 'after-deployment';
    const victim = await startVictim(name);
    await killAt(
      victim,
      {
        description: 'the Deployment apply answered',
        when: 'after-response',
        matches: (call) => call.method === 'PATCH' && call.path === deploymentPath(name),
      },
      () => cluster().createTenant(name),
    );
    const tcp = await cluster().readTenant(name);
    assert.ok(tcp);
    const counts = await countsOf(tcp);
    t.diagnostic(`at the kill: ${JSON.stringify(counts)}; provisioned status: ${Boolean(tcp.status?.kubeconfig)}`);
    assert.equal(counts.deployments, 1, 'the Deployment was applied');
    await restartAndAssertProvisioned(name);
  });

  /**
   * Provisions `name` with a victim manager, gives it keys in its prefix, and waits until the victim is idle (the
   * Provisioning event that follows the status write is recorded). Returns the tenant and its counts.
   */
  async function provisionedWithData(victim: Victim, name: string) {
    await cluster().createTenant(name);
    const tcp = await cluster().waitProvisioned(name, { giveUp: () => exitedWithLog(victim.process) });
    await waitFor(
      async () => {
        const { items } = await cluster().core.listNamespacedEvent({
          namespace: NAMESPACE,
          fieldSelector: `involvedObject.name=${name}`,
        });
        return items.some((event) => event.reason === 'Provisioning') ? true : undefined;
      },
      { timeoutMs: 10_000, description: `the Provisioning event of ${name}` },
    );
    for (const key of ['registry/namespaces/default', 'registry/namespaces/kube-system', 'registry/pods/a/b']) {
      await cluster().etcd.put(`/${tcp.spec.dataStoreSchema}/${key}`).value('tenant data');
    }
    const counts = await countsOf(tcp);
    assert.deepEqual(counts, { keys: 3, users: 1, roles: 1, secrets: 11, deployments: 1, services: 1 });
    return tcp;
  }

  /** Restarts the manager, waits until the TCP is gone, and asserts nothing of the tenant is left. */
  async function restartAndAssertDeleted(tcp: TenantControlPlane): Promise<void> {
    const name = tcp.metadata.name ?? '';
    const manager = await restartManager(name);
    try {
      await cluster().waitGone(name, { giveUp: () => exitedWithLog(manager) });
      assert.deepEqual(await countsOf(tcp), {
        keys: 0,
        users: 0,
        roles: 0,
        secrets: 0,
        deployments: 0,
        services: 0,
      });
    } finally {
      await cluster().supervisor.stop(manager);
    }
  }

  test('deletion killed right after the datastore revoke and delete, before the next write is forwarded', async (t) => {
    const name = 'delete-revoked';
    const victim = await startVictim(name);
    const tcp = await provisionedWithData(victim, name);
    // Whatever the order of the steps: the first write about the tenant once its user, its role and its keys
    // are gone from etcd.
    const user = tcp.status?.storage?.setup?.user ?? '';
    const revoked = async () => {
      const { keys, users, roles } = await countsOf(tcp);
      return keys + users + roles === 0 && user !== '';
    };
    const call = await killAt(
      victim,
      {
        description: 'the first write about the tenant after the datastore revoke and delete',
        when: 'before-forwarding',
        matches: async (candidate) => writesAbout(candidate, name) && (await revoked()),
      },
      () => cluster().custom.deleteNamespacedCustomObject({ ...tcps, name }),
    );
    t.diagnostic(`killed before ${call.method} ${call.path}`);
    const at = await countsOf(tcp);
    assert.deepEqual({ keys: at.keys, users: at.users, roles: at.roles }, { keys: 0, users: 0, roles: 0 });
    const deleting = await cluster().readTenant(name);
    assert.ok(deleting?.metadata.deletionTimestamp && deleting.metadata.finalizers?.includes(FINALIZER));
    await restartAndAssertDeleted(tcp);
  });

  test('deletion killed before the finalizer removal is forwarded', async () => {
    const name = 'delete-unreleased';
    const victim = await startVictim(name);
    const tcp = await provisionedWithData(victim, name);
    await killAt(
      victim,
      {
        description: 'the patch removing the finalizer',
        when: 'before-forwarding',
        matches: (call) => {
          if (call.method !== 'PATCH' || call.path !== tcpPath(name)) return false;
          const finalizers = (JSON.parse(call.body) as TenantControlPlane).metadata?.finalizers;
          return Array.isArray(finalizers) && !finalizers.includes(FINALIZER);
        },
      },
      () => cluster().custom.deleteNamespacedCustomObject({ ...tcps, name }),
    );
    assert.deepEqual(await countsOf(tcp), { keys: 0, users: 0, roles: 0, secrets: 0, deployments: 0, services: 0 });
    const deleting = await cluster().readTenant(name);
    assert.ok(deleting?.metadata.deletionTimestamp && deleting.metadata.finalizers?.includes(FINALIZER));
    await restartAndAssertDeleted(tcp);
  });
});
