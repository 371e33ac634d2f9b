import type { IncomingMessage } from 'node:http';
import { hostname } from 'node:os';
import type { KubernetesObject, V1Deployment, V1Node, V1PodDisruptionBudget, V1Service } from '@kubernetes/client-node';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { dataStoreResource, tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import { type TenantControlPlane, VERSION_STATUSES } from '../api/v1alpha1/tenant-control-plane.ts';
import { CHECKSUM_ANNOTATION } from '../controller/apply.ts';
import { loadClusterAccess } from '../controller/cluster-access.ts';
import { EventRecorder } from '../controller/events.ts';
import { cachesSynced, type ProbeServer, startProbeServer } from '../controller/health.ts';
import { Informer } from '../controller/informer.ts';
import { builtinResources, type CallOptions, KubeClient, objectKey } from '../controller/kube-client.ts';
import { LeaderElector, LeadershipLostError } from '../controller/leader-election.ts';
import { type Log, logToStderr } from '../controller/log.ts';
import {
  datastoreMetrics,
  instrumentController,
  leaderElectionMetrics,
  Registry,
  registerProcessMetrics,
  restClientMetrics,
} from '../controller/metrics.ts';
import { readSecretData } from '../controller/secret-data.ts';
import { runWorkers, WorkQueue } from '../controller/work-queue.ts';
import { DataStoreConnections } from '../datastore/connections.ts';
import type { KeyAlgorithm } from '../pki/certificates.ts';
import { LABEL_TENANT } from '../tenant/names.ts';
import { ANNOTATION_PAUSED, type ObservedSecret, TenantPipeline } from '../tenant/pipeline.ts';
import { podDisruptionBudgetResource } from '../tenant/steps/disruption-budget.ts';
import { type RunningWebhooks, startWebhooks, type WebhookServing } from '../webhook/webhook.ts';
import { DataStoreReconciler } from './datastore-reconciler.ts';

/** The Lease replicas elect a leader on (in `leaderElectionNamespace`). */
export const LEASE_NAME = 'kamaji-manager';

export interface ManagerOptions {
  kubeconfig?: string;
  defaultDataStore?: string;
  maxConcurrentReconciles: number;
  /** `host:port` for /healthz and /readyz (and /metrics when `metricsAddress` is not given); empty to serve none. */
  probeAddress: string;
  /** `host:port` serving /metrics alone, on a port of its own. */
  metricsAddress?: string;
  leaderElection: boolean;
  leaderElectionNamespace: string;
  keyAlgorithm: KeyAlgorithm;
  /** Admission webhooks served on every replica; none when absent. */
  webhooks?: WebhookServing;
  log?: Log;
}

export interface RunningManager {
  probeServer: ProbeServer | undefined;
  metricsServer: ProbeServer | undefined;
  webhooks: RunningWebhooks | undefined;
  /**
   * Resolves when the manager has stopped; rejects with a LeadershipLostError the moment it loses the lease it
   * held (in-flight work is aborted then, not awaited: see startManager).
   */
  done: Promise<void>;
  stop(): Promise<void>;
}

/**
 * A KubeClient that can be cut off: once fenced, every call fails at once with the fencing error and calls under
 * way are torn down with their connections. A replica that lost leadership must not write anything more.
 */
class FenceableKubeClient extends KubeClient {
  private fenced: Error | undefined;

  fence(reason: Error): void {
    this.fenced ??= reason;
    this.close();
  }

  override request<T>(method: string, path: string, options?: CallOptions): Promise<T> {
    if (this.fenced) return Promise.reject(this.fenced);
    return super.request<T>(method, path, options);
  }

  override stream(path: string, options?: CallOptions): Promise<IncomingMessage> {
    if (this.fenced) return Promise.reject(this.fenced);
    return super.stream(path, options);
  }
}

/**
 * Keep only what the pipeline reads of a Deployment: who owns it, the checksum of what was applied, its desired
 * replicas and rollout status (and the resourceVersion the informer compares on relist).
 */
function deploymentSummary(object: KubernetesObject): V1Deployment {
  const deployment = object as V1Deployment;
  const metadata = deployment.metadata;
  return {
    apiVersion: deployment.apiVersion,
    kind: deployment.kind,
    metadata: {
      name: metadata?.name,
      namespace: metadata?.namespace,
      labels: metadata?.labels,
      generation: metadata?.generation,
      resourceVersion: metadata?.resourceVersion,
      annotations: pick(metadata?.annotations, CHECKSUM_ANNOTATION),
    },
    spec: { replicas: deployment.spec?.replicas, selector: {}, template: {} },
    status: deployment.status,
  };
}

function pick(record: Record<string, string> | undefined, key: string): Record<string, string> | undefined {
  const value = record?.[key];
  return value === undefined ? undefined : { [key]: value };
}

/** A TCP update needs a reconcile when the user changed something, not when only its status moved. */
function specOrMetadataChanged(previous: TenantControlPlane, next: TenantControlPlane): boolean {
  const meta = (tcp: TenantControlPlane) =>
    JSON.stringify([
      tcp.metadata.generation,
      tcp.metadata.annotations,
      tcp.metadata.deletionTimestamp,
      tcp.metadata.finalizers,
    ]);
  return meta(previous) !== meta(next);
}

/**
 * The `kamaji manager` process: informers on TCPs, DataStores and the objects Kamaji owns, a de-duplicating work
 * queue per controller, the TCP pipeline and the DataStore reconciler, leader election, metrics and probes.
 *
 * With leader election, losing the lease after holding it stops the manager at once, as controller-runtime does
 * (no graceful drain): the API client and the datastore connections are fenced in the same tick, so in-flight
 * reconciles fail on their next call instead of finishing beside the new leader; the queues drop their keys; `done`
 * rejects with a LeadershipLostError. `kamaji manager` then exits with status 1.
 */
export async function startManager(options: ManagerOptions): Promise<RunningManager> {
  const log = options.log ?? logToStderr;
  const registry = new Registry();
  registerProcessMetrics(registry);
  const client = new FenceableKubeClient(loadClusterAccess(options.kubeconfig), {
    onResponse: restClientMetrics(registry),
  });

  const tenants = new Informer<TenantControlPlane>({ client, type: tenantControlPlaneResource, log });
  const dataStores = new Informer<DataStore>({ client, type: dataStoreResource, log });
  const ownedSelector = LABEL_TENANT;
  const secrets = new Informer({
    client,
    type: builtinResources.secret,
    labelSelector: ownedSelector,
    metadataOnly: true,
    log,
  });
  const services = new Informer({ client, type: builtinResources.service, labelSelector: ownedSelector, log });
  const deployments = new Informer({
    client,
    type: builtinResources.deployment,
    labelSelector: ownedSelector,
    transform: deploymentSummary,
    log,
  });
  const disruptionBudgets = new Informer<V1PodDisruptionBudget>({
    client,
    type: podDisruptionBudgetResource,
    labelSelector: ownedSelector,
    metadataOnly: true,
    log,
  });
  const informers = [tenants, dataStores, secrets, services, deployments, disruptionBudgets];

  const tenantMetrics = instrumentController(registry, 'tenantcontrolplane', () => tenantQueue.length);
  const dataStoreMetrics = instrumentController(registry, 'datastore', () => dataStoreQueue.length);
  const tenantQueue = new WorkQueue({ observer: tenantMetrics.queue });
  const dataStoreQueue = new WorkQueue({ observer: dataStoreMetrics.queue });
  const enqueueOwner = (object: KubernetesObject) => {
    const tenant = object.metadata?.labels?.[LABEL_TENANT];
    if (tenant && object.metadata?.namespace) tenantQueue.add(`${object.metadata.namespace}/${tenant}`);
  };
  tenants.addHandler({
    onAdd: (tcp) => {
      tenantQueue.add(objectKey(tcp));
      if (tcp.spec.dataStore) dataStoreQueue.add(tcp.spec.dataStore);
    },
    onUpdate: (previous, tcp) => {
      if (specOrMetadataChanged(previous, tcp)) tenantQueue.add(objectKey(tcp));
      if (previous.spec.dataStore !== tcp.spec.dataStore && tcp.spec.dataStore) dataStoreQueue.add(tcp.spec.dataStore);
    },
    onDelete: (tcp) => {
      if (tcp.spec.dataStore) dataStoreQueue.add(tcp.spec.dataStore);
    },
  });
  // What the pipeline needs of each Secret (its checksum annotation, whether it is paused) by tenant, kept as the
  // informer hears them, so a reconcile finds its own at once.
  const secretIndex = new Map<string, Map<string, ObservedSecret>>();
  const indexSecret = (secret: KubernetesObject, present: boolean) => {
    const { namespace, name, labels, annotations } = secret.metadata ?? {};
    const tenant = `${namespace}/${labels?.[LABEL_TENANT]}`;
    const entries = secretIndex.get(tenant) ?? new Map<string, ObservedSecret>();
    if (present) {
      entries.set(name ?? '', {
        checksum: annotations?.[CHECKSUM_ANNOTATION],
        paused: annotations?.[ANNOTATION_PAUSED] !== undefined,
      });
    } else {
      entries.delete(name ?? '');
    }
    if (entries.size > 0) secretIndex.set(tenant, entries);
    else secretIndex.delete(tenant);
  };
  secrets.addHandler({
    onAdd: (secret) => indexSecret(secret, true),
    onUpdate: (_previous, secret) => indexSecret(secret, true),
    onDelete: (secret) => indexSecret(secret, false),
  });
  for (const owned of [secrets, services, deployments, disruptionBudgets]) {
    owned.addHandler({
      onAdd: enqueueOwner,
      onUpdate: (_previous, object) => enqueueOwner(object),
      onDelete: enqueueOwner,
    });
  }
  const connections = new DataStoreConnections(
    (namespace, name) => readSecretData(client, namespace, name),
    datastoreMetrics(registry),
  );
  dataStores.addHandler({
    onAdd: (dataStore) => dataStoreQueue.add(objectKey(dataStore)),
    onUpdate: (previous, dataStore) => {
      // Its own status writes (usedBy, ready) come back here too; only a spec change concerns the tenants.
      if (previous.metadata.generation === dataStore.metadata.generation) return;
      dataStoreQueue.add(objectKey(dataStore));
      // New endpoints or credentials: every tenant on it reconciles against the new settings.
      for (const tcp of tenants.list()) {
        if (tcp.spec.dataStore === dataStore.metadata.name) tenantQueue.add(objectKey(tcp));
      }
    },
    onDelete: (dataStore) => connections.retire(dataStore.metadata.name ?? ''),
  });

  const events = new EventRecorder({ client, component: 'kamaji', instance: hostname(), log, mirrorToLog: true });
  const stepSeconds = registry.histogram({
    name: 'kamaji_tenant_step_duration_seconds',
    help: 'Duration of each TenantControlPlane pipeline step.',
    labelNames: ['step'],
  });
  const byStatus = registry.gauge({
    name: 'kamaji_tenantcontrolplanes',
    help: 'TenantControlPlanes by version status.',
    labelNames: ['status'],
  });
  registry.beforeCollect(() => {
    const counts = new Map<string, number>(VERSION_STATUSES.map((status) => [status, 0]));
    for (const tcp of tenants.list()) {
      const status = tcp.status?.kubernetesResources?.version?.status ?? 'Unknown';
      counts.set(status, (counts.get(status) ?? 0) + 1);
    }
    for (const [status, count] of counts) byStatus.set(count, { status });
  });

  let nodeAddressCache: { at: number; address: string | undefined } | undefined;
  const noSecrets: ReadonlyMap<string, ObservedSecret> = new Map();
  const pipeline = new TenantPipeline({
    client,
    observed: {
      tenant: (namespace, name) => tenants.get(`${namespace}/${name}`),
      dataStore: (name) => dataStores.get(name),
      service: (namespace, name) => services.get(`${namespace}/${name}`) as V1Service | undefined,
      deployment: (namespace, name) => deployments.get(`${namespace}/${name}`),
      podDisruptionBudget: (namespace, name) => disruptionBudgets.get(`${namespace}/${name}`),
      secrets: (namespace, tenant) => secretIndex.get(`${namespace}/${tenant}`) ?? noSecrets,
    },
    events,
    dataStores: connections,
    defaultDataStore: options.defaultDataStore,
    keyAlgorithm: options.keyAlgorithm,
    observeStep: (step, seconds) => stepSeconds.observe(seconds, { step }),
    async nodeAddress() {
      if (nodeAddressCache && Date.now() - nodeAddressCache.at < 60_000) return nodeAddressCache.address;
      const nodes = await client.request<{ items: V1Node[] }>('GET', '/api/v1/nodes', { query: { limit: 1 } });
      const address = nodes.items[0]?.status?.addresses?.find((candidate) => candidate.type === 'InternalIP')?.address;
      nodeAddressCache = { at: Date.now(), address };
      return address;
    },
  });
  const dataStoreReconciler = new DataStoreReconciler({
    client,
    events,
    tenants,
    connections,
    requeueTenants: (keys) => {
      for (const key of keys) tenantQueue.add(key);
    },
  });

  // Every replica runs the informers (not only the leader), so every replica can serve the webhooks.
  for (const informer of informers) informer.start();
  const webhooks =
    options.webhooks &&
    (await startWebhooks({
      ...options.webhooks,
      client,
      tenants,
      dataStores,
      defaultDataStore: options.defaultDataStore,
      keyAlgorithm: options.keyAlgorithm,
      log,
    }));
  const probeServer = options.probeAddress
    ? await startProbeServer({
        address: options.probeAddress,
        registry: options.metricsAddress ? undefined : registry,
        liveness: [],
        readiness: [cachesSynced(informers), ...(webhooks ? [webhooks.readiness] : [])],
      })
    : undefined;
  const metricsServer = options.metricsAddress
    ? await startProbeServer({ address: options.metricsAddress, registry })
    : undefined;

  const runControllers = async () => {
    await Promise.all(informers.map((informer) => informer.waitForSync()));
    log(`caches synced: ${tenants.size} TenantControlPlanes, ${dataStores.size} DataStores`);
    await Promise.all([
      runWorkers(tenantQueue, options.maxConcurrentReconciles, (key) => pipeline.reconcile(key), {
        name: 'tenantcontrolplane',
        log,
        observe: tenantMetrics.reconciled,
      }),
      runWorkers(dataStoreQueue, 1, (key) => dataStoreReconciler.reconcile(key), {
        name: 'datastore',
        log,
        observe: dataStoreMetrics.reconciled,
      }),
    ]);
  };

  const finished = Promise.withResolvers<void>();
  // Whoever awaits `done` sees a rejection; this keeps it from counting as unhandled when nobody does yet.
  finished.promise.catch(() => undefined);
  let elector: LeaderElector | undefined;
  if (options.leaderElection) {
    const leading = leaderElectionMetrics(registry, LEASE_NAME);
    elector = new LeaderElector({
      client,
      namespace: options.leaderElectionNamespace,
      name: LEASE_NAME,
      identity: `${hostname()}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`,
      releaseOnStop: true,
      log,
      onStartedLeading: () => {
        leading(true);
        log('became leader');
        void runControllers().then(finished.resolve, finished.reject);
      },
      onStoppedLeading: (end) => {
        leading(false);
        if (end.reason !== 'lost') return;
        // Fence first, in this very tick: from here on nothing this replica started can reach the API server or
        // the datastores.
        const lost = new LeadershipLostError(end.detail);
        client.fence(lost);
        connections.closeAll();
        log(`${lost.message}: in-flight work aborted, nothing more is written; stopping`);
        finished.reject(lost);
        void stop();
      },
    });
    elector.start();
  } else {
    void runControllers().then(finished.resolve, finished.reject);
  }

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      await Promise.all([tenantQueue.shutDown(), dataStoreQueue.shutDown()]);
      await Promise.all(informers.map((informer) => informer.stop()));
      await elector?.stop();
      await webhooks?.stop();
      await probeServer?.close();
      await metricsServer?.close();
      connections.closeAll();
      client.close();
      finished.resolve();
    })();
    return stopping;
  };
  return { probeServer, metricsServer, webhooks, done: finished.promise, stop };
}
