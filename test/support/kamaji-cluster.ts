import assert from 'node:assert/strict';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Etcd3 } from 'etcd3';
import type { TenantControlPlane } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { decodeSecretData } from '../../src/controller/secret-data.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { freePort } from '../../src/process/ports.ts';
import { isAlive, Supervisor, tailFile } from '../../src/process/supervisor.ts';
import type { SecretText } from '../../src/tenant/steps/certificates.ts';
import { waitFor } from '../../src/util/wait.ts';
import { useControlPlane } from './control-plane.ts';
import type { ControlPlaneHarness } from './harness/control-plane.ts';
import {
  createEtcdDataStore,
  installCustomResourceDefinitions,
  NAMESPACE,
  tcps,
  tenantManifest,
} from './kamaji-api.ts';

export { NAMESPACE, tcps };

export interface KamajiCluster {
  harness: ControlPlaneHarness;
  config: KubeConfig;
  core: CoreV1Api;
  apps: AppsV1Api;
  custom: CustomObjectsApi;
  /** The harness etcd as its root user. */
  etcd: Etcd3;
  /** Starts the suite's processes (managers); every one is stopped before the harness is. */
  supervisor: Supervisor;
  /** A directory for the suite's kubeconfigs and logs, removed at the end. */
  dir: string;
  createTenant(name: string): Promise<TenantControlPlane>;
  readTenant(name: string): Promise<TenantControlPlane | undefined>;
  /** Reconciled as far as it goes without nodes: every object written, the Deployment waiting for a node. */
  waitProvisioned(name: string, options?: { giveUp?: () => Promise<string | undefined> }): Promise<TenantControlPlane>;
  waitGone(name: string, options?: { giveUp?: () => Promise<string | undefined> }): Promise<void>;
  secretsOf(name: string): Promise<Map<string, SecretText>>;
}

/**
 * The harness with Kamaji's CRDs, a `default` etcd DataStore on the harness etcd and a `tenants` namespace, but no
 * manager: the suite runs `kamaji manager` itself, as child processes of `supervisor`. After a failed test the
 * managers' log tails are printed; after the last test every manager is stopped (before the harness) and checked.
 */
export function useKamajiCluster(): () => KamajiCluster {
  const supervisor = new Supervisor();
  let dir = '';
  let cluster: KamajiCluster | undefined;
  // Registered before the harness's own hooks, so that they run first: managers stop while the API server is up.
  after(async () => {
    await supervisor.stopAll();
    assert.deepEqual(supervisor.pids().filter(isAlive), [], 'manager processes left running');
    cluster?.etcd.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterEach(async (t) => {
    const failed = (t as { passed?: boolean }).passed === false;
    if (!failed) return;
    const logs = dir ? (await readdir(dir)).filter((file) => file.endsWith('.log')) : [];
    for (const log of logs) process.stderr.write(`\n--- ${log} ---\n${await tailFile(join(dir, log), 40)}\n`);
  });
  const harness = useControlPlane();

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kamaji-managers-'));
    const config = new KubeConfig();
    config.loadFromString(harness().kubeconfigYaml);
    const core = config.makeApiClient(CoreV1Api);
    const custom = config.makeApiClient(CustomObjectsApi);
    await installCustomResourceDefinitions(config);
    await createEtcdDataStore(config, harness(), 'default');
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const readTenant = async (name: string) => {
      try {
        return (await custom.getNamespacedCustomObject({ ...tcps, name })) as TenantControlPlane;
      } catch (error) {
        if ((error as { code?: number }).code === 404) return undefined;
        throw error;
      }
    };
    cluster = {
      harness: harness(),
      config,
      core,
      apps: config.makeApiClient(AppsV1Api),
      custom,
      etcd: connectEtcd(harness().etcd.root),
      supervisor,
      dir,
      async createTenant(name) {
        return (await custom.createNamespacedCustomObject({
          ...tcps,
          body: tenantManifest(name, NAMESPACE, await freePort()),
        })) as TenantControlPlane;
      },
      readTenant,
      waitProvisioned: (name, options = {}) =>
        waitFor(
          async () => {
            const tcp = await readTenant(name);
            if (tcp?.status?.kubeconfig?.admin?.secretName && tcp.status.storage?.setup?.user) return tcp;
            throw new Error(`status: ${JSON.stringify(tcp?.status?.conditions ?? tcp?.status ?? {})}`);
          },
          {
            timeoutMs: 30_000,
            intervalMs: 200,
            description: `TenantControlPlane ${name} to be provisioned`,
            ...options,
          },
        ),
      async waitGone(name, options = {}) {
        await waitFor(
          async () => {
            const tcp = await readTenant(name);
            if (!tcp) return true;
            throw new Error(`still there: finalizers ${JSON.stringify(tcp.metadata.finalizers)}`);
          },
          { timeoutMs: 30_000, intervalMs: 200, description: `TenantControlPlane ${name} to be gone`, ...options },
        );
      },
      async secretsOf(name) {
        const { items } = await core.listNamespacedSecret({
          namespace: NAMESPACE,
          labelSelector: `kamaji.clastix.io/name=${name}`,
        });
        return new Map(items.map((secret: V1Secret) => [secret.metadata?.name ?? '', decodeSecretData(secret)]));
      },
    };
  });

  return () => {
    assert.ok(cluster, 'the Kamaji cluster fixture did not start (see the before hook error)');
    return cluster;
  };
}
