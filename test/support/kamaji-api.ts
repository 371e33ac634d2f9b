import {
  ApiextensionsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Secret,
} from '@kubernetes/client-node';
import { customResourceDefinitions, KINDS } from '../../src/api/crds.ts';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import { GROUP, VERSION } from '../../src/api/v1alpha1/group-version.ts';
import type { TenantControlPlane, TenantControlPlaneSpec } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import { dataStoreObjects, KAMAJI_NAMESPACE } from '../../src/cluster/kamaji-install.ts';
import { KUBERNETES_VERSION } from '../../src/toolchain/versions.ts';
import { waitFor } from '../../src/util/wait.ts';
import type { ControlPlaneHarness } from './harness/control-plane.ts';

/** Creates our CRDs and waits until the API server serves all of them. */
export async function installCustomResourceDefinitions(config: KubeConfig): Promise<void> {
  const extensions = config.makeApiClient(ApiextensionsV1Api);
  for (const crd of customResourceDefinitions()) await extensions.createCustomResourceDefinition({ body: crd });
  await waitFor(
    async () => {
      const { items } = await extensions.listCustomResourceDefinition();
      const established = items.filter((crd) =>
        crd.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True'),
      );
      return established.length === KINDS.length ? true : undefined;
    },
    { timeoutMs: 20_000, description: 'our CRDs to be Established' },
  );
}

/** An etcd DataStore on the harness etcd, with its certificates in a Secret, built as `kamaji up` builds its own. */
export async function createEtcdDataStore(
  config: KubeConfig,
  harness: ControlPlaneHarness,
  name: string,
): Promise<void> {
  const { secret, dataStore } = dataStoreObjects(harness.etcd, name);
  await createDataStore(config, secret, dataStore);
}

/** Creates the kamaji-system namespace if needed, the Secret, then the DataStore. */
export async function createDataStore(config: KubeConfig, secret: V1Secret, dataStore: DataStore): Promise<void> {
  const core = config.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: KAMAJI_NAMESPACE } } }).catch(() => undefined);
  await core.createNamespacedSecret({ namespace: KAMAJI_NAMESPACE, body: secret });
  await config
    .makeApiClient(CustomObjectsApi)
    .createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'datastores', body: dataStore });
}

/** The namespace the operator suites put their tenants in, and the TCP collection there for CustomObjectsApi. */
export const NAMESPACE = 'tenants';
export const tcps = { group: GROUP, version: VERSION, namespace: NAMESPACE, plural: 'tenantcontrolplanes' };

/** A TenantControlPlane as the suites write one: one replica, ClusterIP, reachable on 127.0.0.1 at `port`. */
export function tenantManifest(
  name: string,
  namespace: string,
  port: number,
  spec: Partial<TenantControlPlaneSpec> = {},
): TenantControlPlane {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'TenantControlPlane',
    metadata: { name, namespace },
    spec: {
      controlPlane: { deployment: { replicas: 1 }, service: { serviceType: 'ClusterIP' } },
      kubernetes: { version: KUBERNETES_VERSION, kubelet: { cgroupfs: 'cgroupfs' } },
      networkProfile: { port, certSANs: ['127.0.0.1'] },
      ...spec,
    },
  };
}
