import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { CoreV1Api, CustomObjectsApi, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { TenantControlPlane, TenantControlPlaneSpec } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { decodeSecretData } from '../../src/controller/secret-data.ts';
import { type RunningManager, startManager } from '../../src/manager/manager.ts';
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

export interface OperatorFixture {
  harness: ControlPlaneHarness;
  config: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  /** Stops the running manager and starts a fresh one (a restart, as after a crash). */
  restartManager(): Promise<void>;
  stopManager(): Promise<void>;
  createTenant(name: string, port: number, spec?: Partial<TenantControlPlaneSpec>): Promise<void>;
  readTenant(name: string): Promise<TenantControlPlane>;
  /** Reconciled as far as it goes without nodes: every object written, the Deployment waiting for a node. */
  waitProvisioned(name: string): Promise<TenantControlPlane>;
  /** Waits until `check` holds for the TCP; the timeout message shows its last status. */
  waitTenant(
    name: string,
    description: string,
    check: (tcp: TenantControlPlane) => boolean,
  ): Promise<TenantControlPlane>;
  secretsOf(name: string): Promise<Map<string, SecretText>>;
  /** Deletes the TCP and waits until it is gone (its finalizer done). */
  deleteTenant(name: string): Promise<void>;
}

/**
 * The harness with Kamaji's CRDs, a `default` etcd DataStore on the harness etcd, a `tenants` namespace, and
 * `kamaji manager` running in this process for the suite in this file.
 */
export function useOperator(): () => OperatorFixture {
  const harness = useControlPlane();
  let fixture: OperatorFixture | undefined;
  let manager: RunningManager | undefined;

  before(async () => {
    const config = new KubeConfig();
    config.loadFromString(harness().kubeconfigYaml);
    const core = config.makeApiClient(CoreV1Api);
    const custom = config.makeApiClient(CustomObjectsApi);
    await installCustomResourceDefinitions(config);
    await createEtcdDataStore(config, harness(), 'default');
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    const start = () =>
      startManager({
        kubeconfig: harness().kubeconfigPath,
        defaultDataStore: 'default',
        maxConcurrentReconciles: 4,
        probeAddress: '127.0.0.1:0',
        leaderElection: false,
        leaderElectionNamespace: 'kamaji-system',
        keyAlgorithm: 'ECDSA-P256',
        log: () => undefined,
      });
    manager = await start();
    const readTenant = async (name: string) =>
      (await custom.getNamespacedCustomObject({ ...tcps, name })) as TenantControlPlane;
    const waitTenant = (name: string, description: string, check: (tcp: TenantControlPlane) => boolean) =>
      waitFor(
        async () => {
          const tcp = await readTenant(name);
          if (check(tcp)) return tcp;
          throw new Error(`status: ${JSON.stringify(tcp.status?.conditions ?? tcp.status ?? {})}`);
        },
        { timeoutMs: 30_000, intervalMs: 200, description: `TenantControlPlane ${name} ${description}` },
      );
    fixture = {
      harness: harness(),
      config,
      core,
      custom,
      async restartManager() {
        await manager?.stop();
        manager = await start();
      },
      async stopManager() {
        await manager?.stop();
        manager = undefined;
      },
      async createTenant(name, port, spec = {}) {
        await custom.createNamespacedCustomObject({ ...tcps, body: tenantManifest(name, NAMESPACE, port, spec) });
      },
      readTenant,
      waitTenant,
      waitProvisioned: (name) =>
        waitTenant(name, 'to be provisioned', (tcp) =>
          Boolean(tcp.status?.kubeconfig?.admin?.secretName && tcp.status.storage?.setup?.user),
        ),
      async deleteTenant(name) {
        await custom.deleteNamespacedCustomObject({ ...tcps, name });
        await waitFor(
          () =>
            readTenant(name).then(
              () => undefined,
              (error: unknown) => {
                if ((error as { code?: number }).code === 404) return true;
                throw error;
              },
            ),
          { timeoutMs: 30_000, intervalMs: 200, description: `TenantControlPlane ${name} to be gone` },
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

  after(async () => {
    await manager?.stop();
  });

  return () => {
    assert.ok(fixture, 'the operator fixture did not start (see the before hook error)');
    return fixture;
  };
}
