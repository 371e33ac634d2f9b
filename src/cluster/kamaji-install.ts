import type { KubernetesObject, V1Deployment, V1Pod } from '@kubernetes/client-node';
import { customResourceDefinitionManifest, KINDS } from '../api/crd-manifests.ts';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { API_VERSION, GROUP } from '../api/v1alpha1/group-version.ts';
import { dataStoreResource, tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { readObject, serverSideApply } from '../controller/apply.ts';
import { builtinResources, type KubeClient, type ResourceType, resourcePath } from '../controller/kube-client.ts';
import type { EtcdConnection } from '../datastore/etcd/connection.ts';
import type { CertificateAndKey } from '../pki/certificates.ts';
import { KUBERNETES_VERSION } from '../toolchain/versions.ts';
import { waitFor } from '../util/wait.ts';
import type { LocalDatastoreObjects } from './datastores/local-datastore.ts';

export const KAMAJI_NAMESPACE = 'kamaji-system';
export const DEFAULT_DATASTORE = 'default';
/** The Helm release `kamaji up` installs; the chart names the manager's Deployment and ServiceAccount after it. */
export const KAMAJI_RELEASE = 'kamaji';
/** The label the chart gives the manager's pods (besides the release's instance label). */
export const MANAGER_POD_SELECTOR = `app.kubernetes.io/name=kamaji,app.kubernetes.io/instance=${KAMAJI_RELEASE}`;

const crdResource = {
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  plural: 'customresourcedefinitions',
  namespaced: false,
} as const satisfies ResourceType;
const podResource = { apiVersion: 'v1', kind: 'Pod', plural: 'pods', namespaced: true } as const;
const namespaceResource = { apiVersion: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false } as const;

const base64 = (text: string | undefined) => Buffer.from(text ?? '').toString('base64');

/** A key of a DataStore's Secret in kamaji-system, as a DataStore field references it. */
export type SecretKeyReference = (keyPath: string) => {
  secretReference: { name: string; namespace: string; keyPath: string };
};

/**
 * A DataStore named `name` and the Secret in kamaji-system its fields reference by key (the way upstream's samples
 * do): `data` is the Secret's content, `spec` the DataStore's, given how to reference a key of it.
 */
export function dataStoreWithSecret(
  name: string,
  secretName: string,
  data: Readonly<Record<string, string | undefined>>,
  spec: (reference: SecretKeyReference) => DataStore['spec'],
): LocalDatastoreObjects {
  const reference: SecretKeyReference = (keyPath) => ({
    secretReference: { name: secretName, namespace: KAMAJI_NAMESPACE, keyPath },
  });
  return {
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace: KAMAJI_NAMESPACE },
      type: 'Opaque',
      data: Object.fromEntries(Object.entries(data).map(([key, value]) => [key, base64(value)])),
    },
    dataStore: { apiVersion: API_VERSION, kind: 'DataStore', metadata: { name }, spec: spec(reference) },
  };
}

/** An etcd as a DataStore named `name`: its CA and root client certificate in its Secret. */
export function dataStoreObjects(
  datastore: { endpoint: string; root: EtcdConnection; ca: CertificateAndKey },
  name: string,
): LocalDatastoreObjects {
  const data = {
    'ca.crt': datastore.ca.certificatePem,
    'ca.key': datastore.ca.privateKeyPem,
    'tls.crt': datastore.root.clientCertificatePem,
    'tls.key': datastore.root.clientKeyPem,
  };
  return dataStoreWithSecret(name, `${name}-datastore-certificates`, data, (reference) => ({
    driver: 'etcd',
    endpoints: [datastore.endpoint],
    tlsConfig: {
      certificateAuthority: { certificate: reference('ca.crt'), privateKey: reference('ca.key') },
      clientCertificate: { certificate: reference('tls.crt'), privateKey: reference('tls.key') },
    },
  }));
}

/**
 * konnectivity-server's port, also its node port (upstream exposes it on the tenant Service with nodePort = port):
 * 300 below the API server's, so that tenants with neighbouring node ports never collide.
 */
export function konnectivityNodePort(nodePort: number): number {
  return nodePort - 300;
}

/**
 * A tenant as a user would write it, reachable from the host on a node port, with the three addons a cluster
 * with workers needs: CoreDNS, kube-proxy and konnectivity.
 */
export function tenantControlPlaneManifest(name: string, namespace: string, nodePort: number): TenantControlPlane {
  return {
    apiVersion: API_VERSION,
    kind: 'TenantControlPlane',
    metadata: { name, namespace },
    spec: {
      controlPlane: { deployment: { replicas: 1 }, service: { serviceType: 'NodePort' } },
      kubernetes: { version: KUBERNETES_VERSION, kubelet: { cgroupfs: 'cgroupfs' } },
      networkProfile: { port: nodePort },
      addons: { coreDNS: {}, kubeProxy: {}, konnectivity: { server: { port: konnectivityNodePort(nodePort) } } },
    },
  };
}

/** CRDs (waiting until they are served), the kamaji-system namespace, and the DataStores with their Secrets. */
export async function installKamaji(client: KubeClient, dataStores: readonly LocalDatastoreObjects[]): Promise<void> {
  for (const kind of KINDS) {
    await serverSideApply(client, crdResource, customResourceDefinitionManifest(kind) as KubernetesObject);
  }
  await waitFor(
    async () => {
      for (const kind of KINDS) {
        const crd = await client.request<{ status?: { conditions?: { type: string; status: string }[] } }>(
          'GET',
          resourcePath(crdResource, { name: `${kind.plural}.${GROUP}` }),
        );
        if (
          !crd.status?.conditions?.some((condition) => condition.type === 'Established' && condition.status === 'True')
        ) {
          return undefined;
        }
      }
      return true;
    },
    { timeoutMs: 30_000, description: 'the kamaji.clastix.io CRDs to be served' },
  );
  await serverSideApply(client, namespaceResource, {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: KAMAJI_NAMESPACE },
  });
  for (const objects of dataStores) await applyDataStore(client, objects);
}

/** A DataStore and its Secret, the Secret first: the admission webhook checks the references. */
export async function applyDataStore(client: KubeClient, { secret, dataStore }: LocalDatastoreObjects): Promise<void> {
  await serverSideApply(client, builtinResources.secret, secret);
  await serverSideApply(client, dataStoreResource, dataStore as KubernetesObject);
}

export async function applyTenantControlPlane(client: KubeClient, tcp: TenantControlPlane): Promise<void> {
  await serverSideApply(client, tenantControlPlaneResource, tcp as KubernetesObject);
}

/** Waits for a TCP to be Ready; a timeout says what its status and conditions last were. */
export async function waitForTenantReady(
  client: KubeClient,
  namespace: string,
  name: string,
  timeoutMs: number,
): Promise<TenantControlPlane> {
  return waitFor(
    async () => {
      const tcp = await client.request<TenantControlPlane>(
        'GET',
        resourcePath(tenantControlPlaneResource, { namespace, name }),
      );
      const status = tcp.status?.kubernetesResources?.version?.status;
      if (status === 'Ready') return tcp;
      const notReady = (tcp.status?.conditions ?? []).filter((condition) => condition.status !== 'True');
      throw new Error(
        `status ${status ?? 'none'}${notReady.map((condition) => `; ${condition.type}: ${condition.message}`).join('')}`,
      );
    },
    { timeoutMs, intervalMs: 250, description: `TenantControlPlane ${namespace}/${name} to be Ready` },
  );
}

/** What a manager pod is waiting for: its phase, then each container's waiting reason or readiness. */
function describePod(pod: V1Pod): string {
  const containers = (pod.status?.containerStatuses ?? []).map((container) => {
    const waiting = container.state?.waiting;
    if (waiting) return `${container.name} ${waiting.reason}${waiting.message ? `: ${waiting.message}` : ''}`;
    return `${container.name} ${container.ready ? 'ready' : 'not ready'} (restarts ${container.restartCount})`;
  });
  return `${pod.metadata?.name} ${pod.status?.phase}${containers.length > 0 ? ` [${containers.join('; ')}]` : ''}`;
}

/**
 * The manager's rollout is complete: its Deployment has seen its latest spec, and every replica is updated, ready
 * and available, with no old one left. A timeout names each pod's state and where the logs are.
 */
export async function waitForManagerReady(client: KubeClient, timeoutMs: number): Promise<V1Deployment> {
  const location = { namespace: KAMAJI_NAMESPACE, name: KAMAJI_RELEASE };
  return waitFor(
    async () => {
      const deployment = await client.request<V1Deployment>('GET', resourcePath(builtinResources.deployment, location));
      const wanted = deployment.spec?.replicas ?? 1;
      const status = deployment.status ?? {};
      const complete =
        (status.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 1) &&
        status.updatedReplicas === wanted &&
        status.readyReplicas === wanted &&
        status.availableReplicas === wanted &&
        status.replicas === wanted;
      if (complete) return deployment;
      const pods = await client.request<{ items: V1Pod[] }>(
        'GET',
        resourcePath(podResource, { namespace: KAMAJI_NAMESPACE }),
        { query: { labelSelector: MANAGER_POD_SELECTOR } },
      );
      throw new Error(
        `${status.readyReplicas ?? 0}/${wanted} ready, ${status.updatedReplicas ?? 0} updated; pods: ` +
          `${pods.items.map(describePod).join(', ') || 'none'} (kubectl logs -n ${KAMAJI_NAMESPACE} deploy/${KAMAJI_RELEASE})`,
      );
    },
    { timeoutMs, intervalMs: 500, description: `the Kamaji manager pods in ${KAMAJI_NAMESPACE} to be Ready` },
  );
}

/** One line for `kamaji status`: the manager's pods as its Deployment counts them. */
export async function managerStatus(client: KubeClient): Promise<string> {
  const location = { namespace: KAMAJI_NAMESPACE, name: KAMAJI_RELEASE };
  const deployment = await readObject<V1Deployment>(client, builtinResources.deployment, location);
  if (!deployment) return `not installed (no Deployment ${KAMAJI_NAMESPACE}/${KAMAJI_RELEASE})`;
  const ready = deployment.status?.readyReplicas ?? 0;
  return `${ready}/${deployment.spec?.replicas ?? 1} pods ready (logs: kubectl logs -n ${KAMAJI_NAMESPACE} deploy/${KAMAJI_RELEASE})`;
}
