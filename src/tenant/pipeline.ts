import type { KubernetesObject, V1Condition, V1Deployment, V1Secret, V1Service } from '@kubernetes/client-node';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { applyTenantControlPlaneDefaults, type DefaultedTenantControlPlaneSpec } from '../api/v1alpha1/defaults.ts';
import { tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane, TenantControlPlaneStatus } from '../api/v1alpha1/tenant-control-plane.ts';
import { validateTenantControlPlaneSpec } from '../api/v1alpha1/validation.ts';
import {
  applyIfChanged,
  CHECKSUM_ANNOTATION,
  checksum,
  controllerReference,
  mergePatch,
  patchStatus,
  readObject,
  serverSideApplyMetadata,
  withChecksum,
} from '../controller/apply.ts';
import type { EventRecorder } from '../controller/events.ts';
import {
  builtinResources,
  hasStatus,
  type KubeClient,
  parseObjectKey,
  resourcePath,
} from '../controller/kube-client.ts';
import { decodeSecretData } from '../controller/secret-data.ts';
import type { ReconcileResult } from '../controller/work-queue.ts';
import type { DataStoreConnection, DataStoreConnections } from '../datastore/connections.ts';
import { DataStoreConfigError } from '../datastore/resolve.ts';
import type { KeyAlgorithm } from '../pki/certificates.ts';
import { type ConditionInput, setCondition } from './conditions.ts';
import type { TenantContext } from './context.ts';
import { ANNOTATION_ROTATE, LABEL_TENANT, objectNames, ownedLabels } from './names.ts';
import { installedVersionAfter, versionStatus } from './status.ts';
import { type DesiredSecret, desiredCertificateSecrets, type SecretText } from './steps/certificates.ts';
import { desiredDatastoreSecrets } from './steps/datastore.ts';
import { desiredDeployment } from './steps/deployment.ts';
import { desiredKubeconfigSecrets } from './steps/kubeconfigs.ts';
import { desiredService, observedEndpoint } from './steps/service.ts';
import { unhonouredFields } from './unhonoured.ts';

export const TENANT_FINALIZER = 'finalizer.kamaji.clastix.io';
export const ANNOTATION_PAUSED = 'kamaji.clastix.io/paused';

export interface ObservedSecret {
  /** The checksum annotation Kamaji wrote on it. */
  checksum: string | undefined;
  /** `kamaji.clastix.io/paused` on it: an operator took it over by hand; Kamaji leaves it as it is. */
  paused: boolean;
}

/** What the informers have seen: reads that cost no API call. They may lag our own writes by a moment. */
export interface ObservedObjects {
  dataStore(name: string): DataStore | undefined;
  service(namespace: string, name: string): V1Service | undefined;
  deployment(namespace: string, name: string): V1Deployment | undefined;
  /** Each of a tenant's Secrets, by name. */
  secrets(namespace: string, tenant: string): ReadonlyMap<string, ObservedSecret>;
}

export interface PipelineDependencies {
  client: KubeClient;
  observed: ObservedObjects;
  events: EventRecorder;
  dataStores: DataStoreConnections;
  /** The manager's --datastore, for TCPs that name none. */
  defaultDataStore?: string;
  keyAlgorithm: KeyAlgorithm;
  /** The address a NodePort is reached on (the admin node's InternalIP). */
  nodeAddress(): Promise<string | undefined>;
  /** Called with each step's name and duration, for metrics. */
  observeStep?(step: string, seconds: number): void;
  now?(): Date;
}

/** While a datastore is unreachable or a load balancer pending, look again this often (events also wake us). */
const RETRY_SOON_MS = 10_000;
/** How long our own writes may take to show in the informers before a difference counts as a real change. */
const INFORMER_LAG_MS = 5_000;
/** Certificates are checked for renewal at least this often. */
const RENEWAL_CHECK_MS = 6 * 60 * 60 * 1000;

/**
 * What the last full pass produced for a tenant. While the tenant context and the Secrets' checksum annotations
 * are as it left them, certificates need no second look until the next renewal check.
 */
interface Converged {
  contextChecksum: string;
  /** Secret name → the checksum annotation written on it. */
  annotations: Map<string, string>;
  /** Secret name → checksum of its data, for the status. */
  secretChecksums: Map<string, string>;
  podTemplateChecksum: string;
  at: number;
}

/** A reason to stop this reconcile and say why in the status; `retryAfterMs` undefined waits for a change. */
class Blocked extends Error {
  readonly condition: ConditionInput;
  readonly retryAfterMs: number | undefined;
  constructor(condition: ConditionInput, retryAfterMs: number | undefined) {
    super(condition.message);
    this.condition = condition;
    this.retryAfterMs = retryAfterMs;
  }
}

/**
 * The TenantControlPlane pipeline: one ordered pass of small idempotent steps, from the spec to the objects,
 * the datastore grant and the status. Every step reads what exists before it writes, so running it again after
 * a crash at any point completes the work without duplicating anything.
 */
export class TenantPipeline {
  private readonly deps: PipelineDependencies;
  private readonly converged = new Map<string, Converged>();

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  private async step<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.deps.observeStep?.(name, (performance.now() - started) / 1000);
    }
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = parseObjectKey(key);
    const tcp = await readObject<TenantControlPlane>(this.deps.client, tenantControlPlaneResource, { namespace, name });
    if (!tcp) {
      // Gone without our finalizer running (someone removed it): forget it all the same.
      this.converged.delete(key);
      return {};
    }
    if (tcp.metadata.annotations?.[ANNOTATION_PAUSED] !== undefined) return {};
    if (tcp.metadata.deletionTimestamp) return this.finalize(tcp);
    try {
      return await this.converge(tcp);
    } catch (error) {
      if (!(error instanceof Blocked)) throw error;
      await this.writeStatus(tcp, { conditions: [error.condition] });
      await this.deps.events.record(tcp, 'Warning', error.condition.reason, error.condition.message);
      return error.retryAfterMs === undefined ? {} : { requeueAfterMs: error.retryAfterMs };
    }
  }

  private async converge(original: TenantControlPlane): Promise<ReconcileResult> {
    const { tcp, spec } = await this.step('claim', () => this.claim(original));
    this.validate(tcp, spec);
    const dataStore = await this.step('datastore', () => this.connectDataStore(spec.dataStore));
    const { service, endpoint } = await this.step('service', () => this.applyService(tcp, spec));
    const context = this.contextOf(tcp, spec, endpoint, dataStore);
    const rotate = tcp.metadata.annotations?.[ANNOTATION_ROTATE] !== undefined;
    const key = `${context.namespace}/${context.name}`;
    const contextChecksum = checksum([context, spec.dataStoreUsername]);
    let converged = this.converged.get(key);
    const freshness = converged && this.freshness(converged, contextChecksum, context);
    let requeueAfterMs = RENEWAL_CHECK_MS;
    if (rotate || !converged || freshness === 'stale') {
      const secrets = await this.step('secrets', () =>
        this.applySecrets(tcp, context, dataStore, spec.dataStoreUsername, rotate),
      );
      await this.step('datastore-grant', () =>
        dataStore.driver.ensureTenant({ schema: spec.dataStoreSchema, username: spec.dataStoreUsername }),
      );
      converged = {
        contextChecksum,
        annotations: new Map(secrets.map((secret) => [secret.name, secret.annotation])),
        secretChecksums: new Map(secrets.map((secret) => [secret.name, checksum(secret.data)])),
        // Any certificate or kubeconfig change must reach the pods: its checksum is part of the pod template.
        podTemplateChecksum: checksum(secrets.map((secret) => [secret.name, secret.data])),
        at: this.now().getTime(),
      };
      this.converged.set(key, converged);
    } else if (freshness === 'lagging') {
      // Our own writes are not in the informer yet; look again shortly in case a Secret really was changed.
      requeueAfterMs = INFORMER_LAG_MS;
    }
    const deployment = await this.step('deployment', () =>
      this.applyDeployment(tcp, context, converged.podTemplateChecksum),
    );
    if (rotate) await this.clearRotateAnnotation(tcp);
    await this.step('status', () =>
      this.writeStatus(tcp, this.observedStatus(tcp, spec, endpoint, service, deployment, converged.secretChecksums)),
    );
    return { requeueAfterMs };
  }

  /**
   * Whether the last full pass still holds: 'current' when the context and every Secret's checksum annotation are
   * as it left them; 'lagging' when only Secrets it wrote a moment ago differ (the informer has not caught up);
   * 'stale' otherwise, or when certificates are due for their periodic renewal check.
   */
  private freshness(
    converged: Converged,
    contextChecksum: string,
    context: TenantContext,
  ): 'current' | 'lagging' | 'stale' {
    const age = this.now().getTime() - converged.at;
    if (converged.contextChecksum !== contextChecksum || age > RENEWAL_CHECK_MS) return 'stale';
    const observed = this.deps.observed.secrets(context.namespace, context.name);
    const differing = [...converged.annotations].filter(
      ([name, annotation]) => observed.get(name)?.checksum !== annotation,
    );
    if (differing.length === 0) return 'current';
    return age < INFORMER_LAG_MS ? 'lagging' : 'stale';
  }

  // ---- steps ----

  /**
   * Our finalizer, and dataStore, dataStoreSchema and dataStoreUsername chosen once and stored in the spec (where
   * CEL rules keep them from changing: the tenant's data must never move under its feet), in one write.
   */
  private async claim(tcp: TenantControlPlane): Promise<{
    tcp: TenantControlPlane;
    spec: DefaultedTenantControlPlaneSpec & { dataStore: string; dataStoreSchema: string; dataStoreUsername: string };
  }> {
    const spec = applyTenantControlPlaneDefaults(tcp.spec, { defaultDataStore: this.deps.defaultDataStore });
    if (!spec.dataStore) {
      throw new Blocked(
        {
          type: 'DataStoreReady',
          status: 'False',
          reason: 'NoDataStore',
          message: 'spec.dataStore is not set and the manager has no default (--datastore): name a DataStore',
        },
        undefined,
      );
    }
    // The UID is unique and stable; underscores keep it a valid identifier for SQL datastores later.
    const identity = (tcp.metadata.uid ?? '').replaceAll('-', '_');
    const wanted = {
      dataStore: spec.dataStore,
      dataStoreSchema: tcp.spec.dataStoreSchema || identity,
      dataStoreUsername: tcp.spec.dataStoreUsername || identity,
    };
    const finalizers = tcp.metadata.finalizers ?? [];
    const specSet = Object.entries(wanted).every(([key, value]) => tcp.spec[key as keyof typeof wanted] === value);
    if (specSet && finalizers.includes(TENANT_FINALIZER)) return { tcp, spec: { ...spec, ...wanted } };
    const patched = await this.patchTcp(tcp, {
      // The resourceVersion makes the finalizer list a compare-and-swap: nobody else's finalizer is dropped.
      metadata: {
        finalizers: [...new Set([...finalizers, TENANT_FINALIZER])],
        resourceVersion: tcp.metadata.resourceVersion,
      },
      spec: wanted,
    });
    return { tcp: patched, spec: { ...spec, ...wanted } };
  }

  private validate(tcp: TenantControlPlane, spec: DefaultedTenantControlPlaneSpec): void {
    const installedVersion = tcp.status?.kubernetesResources?.version?.version;
    const problems = validateTenantControlPlaneSpec(spec, { installedVersion });
    if (problems.length === 0) return;
    throw new Blocked(
      {
        type: 'Valid',
        status: 'False',
        reason: 'InvalidSpec',
        message: problems.map((problem) => `${problem.field}: ${problem.message}`).join('; '),
      },
      undefined,
    );
  }

  private async connectDataStore(name: string): Promise<DataStoreConnection> {
    const dataStore = this.deps.observed.dataStore(name);
    if (!dataStore) {
      throw new Blocked(
        {
          type: 'DataStoreReady',
          status: 'False',
          reason: 'DataStoreNotFound',
          message: `DataStore ${name} does not exist: create it or set spec.dataStore`,
        },
        RETRY_SOON_MS,
      );
    }
    try {
      const connection = await this.deps.dataStores.connectionFor(dataStore);
      await this.deps.dataStores.check(connection);
      return connection;
    } catch (error) {
      const configError = error instanceof DataStoreConfigError;
      throw new Blocked(
        {
          type: 'DataStoreReady',
          status: 'False',
          reason: configError ? 'DataStoreMisconfigured' : 'DataStoreUnreachable',
          message: (error as Error).message,
        },
        RETRY_SOON_MS,
      );
    }
  }

  private async applyService(tcp: TenantControlPlane, spec: DefaultedTenantControlPlaneSpec) {
    const names = objectNames(tcp.metadata.name ?? '');
    const service = spec.controlPlane.service;
    const desired = this.owned(
      tcp,
      desiredService({
        tenant: {
          name: tcp.metadata.name ?? '',
          namespace: tcp.metadata.namespace ?? '',
          port: spec.networkProfile.port,
        },
        serviceType: service.serviceType,
        additionalMetadata: service.additionalMetadata,
        loadBalancerSourceRanges: spec.networkProfile.loadBalancerSourceRanges,
        loadBalancerClass: spec.networkProfile.loadBalancerClass,
      }),
    );
    const live = this.deps.observed.service(tcp.metadata.namespace ?? '', names.service);
    const result = await applyIfChanged(this.deps.client, builtinResources.service, desired, live);
    const current = result.applied ? result.object : live;
    const endpoint =
      current &&
      observedEndpoint(current, {
        explicitAddress: spec.networkProfile.address,
        nodeAddress: service.serviceType === 'NodePort' ? await this.deps.nodeAddress() : undefined,
      });
    if (!current || !endpoint) {
      throw new Blocked(
        {
          type: 'Ready',
          status: 'False',
          reason: 'EndpointPending',
          message: `Service ${names.service} has no reachable address yet (${service.serviceType}); waiting for it`,
        },
        RETRY_SOON_MS,
      );
    }
    return { service: current, endpoint };
  }

  private contextOf(
    tcp: TenantControlPlane,
    spec: DefaultedTenantControlPlaneSpec & { dataStoreSchema: string },
    endpoint: { address: string; port: number },
    dataStore: DataStoreConnection,
  ): TenantContext {
    const network = spec.networkProfile;
    return {
      name: tcp.metadata.name ?? '',
      namespace: tcp.metadata.namespace ?? '',
      version: spec.kubernetes.version,
      deployment: spec.controlPlane.deployment,
      endpointAddress: endpoint.address,
      endpointPort: endpoint.port,
      advertiseAddress: network.advertiseAddress || endpoint.address,
      port: network.port,
      certSANs: network.certSANs ?? [],
      clusterDomain: network.clusterDomain,
      serviceCidr: network.serviceCidrs[0] ?? network.serviceCidr,
      podCidr: network.podCidrs[0] ?? network.podCidr,
      admissionControllers: spec.kubernetes.admissionControllers,
      kubeletPreferredAddressTypes: spec.kubernetes.kubelet.preferredAddressTypes,
      datastore: { endpoints: dataStore.endpoints, schema: spec.dataStoreSchema },
      keyAlgorithm: this.deps.keyAlgorithm,
    };
  }

  /** Computes every Secret (keeping what is still good) and writes those whose checksum annotation differs. */
  private async applySecrets(
    tcp: TenantControlPlane,
    context: TenantContext,
    dataStore: DataStoreConnection,
    username: string,
    rotate: boolean,
  ): Promise<(DesiredSecret & { annotation: string })[]> {
    const existing = await this.ownedSecrets(tcp);
    const options = { rotate, now: this.now() };
    const certificates = await desiredCertificateSecrets(context, existing, options);
    const caData = certificates.find((secret) => secret.name === objectNames(context.name).caSecret)?.data ?? {};
    const ca = { certificatePem: caData['ca.crt'] ?? '', privateKeyPem: caData['ca.key'] ?? '' };
    const [kubeconfigs, storage] = await Promise.all([
      desiredKubeconfigSecrets(context, ca, existing, options),
      desiredDatastoreSecrets({ context, datastoreCa: dataStore.ca, username, existing, options }),
    ]);
    const observed = this.deps.observed.secrets(context.namespace, context.name);
    return Promise.all(
      [...certificates, ...kubeconfigs, ...storage].map(async (secret) => {
        const desired = withChecksum<V1Secret>(
          this.owned(tcp, {
            apiVersion: 'v1',
            kind: 'Secret',
            metadata: {
              name: secret.name,
              namespace: context.namespace,
              labels: ownedLabels(context.name, secret.component),
            },
            type: 'Opaque',
            data: Object.fromEntries(
              Object.entries(secret.data).map(([key, value]) => [key, Buffer.from(value).toString('base64')]),
            ),
          } satisfies V1Secret),
        );
        const live = observed.get(secret.name);
        if (live?.paused) {
          // Left as the operator set it; what is stored is what the pods mount.
          return { ...secret, data: existing.get(secret.name) ?? secret.data, annotation: live.checksum ?? '' };
        }
        const annotation = desired.metadata?.annotations?.[CHECKSUM_ANNOTATION] ?? '';
        if (live?.checksum !== annotation) {
          await serverSideApplyMetadata(this.deps.client, builtinResources.secret, desired);
        }
        return { ...secret, annotation };
      }),
    );
  }

  private async applyDeployment(
    tcp: TenantControlPlane,
    context: TenantContext,
    podTemplateChecksum: string,
  ): Promise<V1Deployment | undefined> {
    const desired = this.owned(tcp, desiredDeployment({ context, podTemplateChecksum }));
    const live = this.deps.observed.deployment(context.namespace, context.name);
    const result = await applyIfChanged(this.deps.client, builtinResources.deployment, desired, live);
    return result.applied ? result.object : live;
  }

  private async clearRotateAnnotation(tcp: TenantControlPlane): Promise<void> {
    await this.patchTcp(tcp, { metadata: { annotations: { [ANNOTATION_ROTATE]: null } } });
    await this.deps.events.record(
      tcp,
      'Normal',
      'CertificatesRotated',
      'every leaf certificate and kubeconfig was renewed',
    );
  }

  // ---- status ----

  private observedStatus(
    tcp: TenantControlPlane,
    spec: DefaultedTenantControlPlaneSpec & { dataStore: string; dataStoreSchema: string; dataStoreUsername: string },
    endpoint: { address: string; port: number },
    service: V1Service,
    deployment: V1Deployment | undefined,
    secretChecksums: ReadonlyMap<string, string>,
  ): Partial<TenantControlPlaneStatus> {
    const names = objectNames(tcp.metadata.name ?? '');
    const observation = {
      desiredVersion: spec.kubernetes.version,
      installedVersion: tcp.status?.kubernetesResources?.version?.version,
      deployment,
    };
    const status = versionStatus(observation);
    const secretRef = (name: string) => ({ secretName: name, checksum: secretChecksums.get(name) ?? '' });
    const ignored = unhonouredFields(tcp.spec);
    const deploymentStatus = deployment?.status;
    const labelSelector = Object.entries(ownedLabels(names.deployment, 'deployment'))
      .map(([key, value]) => `${key}=${value}`)
      .join(',');
    return {
      controlPlaneEndpoint: `${endpoint.address}:${endpoint.port}`,
      observedGeneration: tcp.metadata.generation,
      kubernetesResources: {
        version: { status, ...optionalVersion(installedVersionAfter(status, observation)) },
        deployment: {
          name: names.deployment,
          namespace: tcp.metadata.namespace ?? '',
          selector: labelSelector,
          replicas: deploymentStatus?.replicas ?? 0,
          readyReplicas: deploymentStatus?.readyReplicas ?? 0,
          updatedReplicas: deploymentStatus?.updatedReplicas ?? 0,
          availableReplicas: deploymentStatus?.availableReplicas ?? 0,
        },
        service: {
          name: names.service,
          namespace: tcp.metadata.namespace ?? '',
          port: endpoint.port,
          loadBalancer: service.status?.loadBalancer ?? {},
        },
      },
      certificates: {
        ca: secretRef(names.caSecret),
        apiServer: secretRef(names.apiServerCertificateSecret),
        apiServerKubeletClient: secretRef(names.kubeletClientCertificateSecret),
        frontProxyCA: secretRef(names.frontProxyCaSecret),
        frontProxyClient: secretRef(names.frontProxyClientCertificateSecret),
        sa: secretRef(names.serviceAccountSecret),
      },
      kubeconfig: {
        admin: secretRef(names.adminKubeconfigSecret),
        controllerManager: secretRef(names.controllerManagerKubeconfigSecret),
        scheduler: secretRef(names.schedulerKubeconfigSecret),
      },
      storage: {
        driver: 'etcd',
        dataStoreName: spec.dataStore,
        setup: { schema: spec.dataStoreSchema, user: spec.dataStoreUsername },
        certificate: secretRef(names.datastoreCertificateSecret),
        config: secretRef(names.datastoreConfigSecret),
      },
      conditions: [
        { type: 'Valid', status: 'True', reason: 'SpecValid', message: 'the spec passed validation' },
        {
          type: 'DataStoreReady',
          status: 'True',
          reason: 'Granted',
          message: `tenant user ${spec.dataStoreUsername} may use /${spec.dataStoreSchema}/ on DataStore ${spec.dataStore}`,
        },
        status === 'Ready' || status === 'Sleeping'
          ? {
              type: 'Ready',
              status: 'True',
              reason: status,
              message: `control plane ${status === 'Ready' ? 'serves' : 'is scaled to zero'}`,
            }
          : {
              type: 'Ready',
              status: 'False',
              reason: status,
              message: `${deploymentStatus?.readyReplicas ?? 0} of ${deployment?.spec?.replicas ?? 0} control-plane replicas ready`,
            },
        ignored.length === 0
          ? {
              type: 'FieldsHonoured',
              status: 'True',
              reason: 'AllHonoured',
              message: 'every field set in the spec is acted on',
            }
          : {
              type: 'FieldsHonoured',
              status: 'False',
              reason: 'NotImplementedYet',
              message: `accepted and kept, but not acted on yet: ${ignored.join(', ')}`,
            },
      ] satisfies ConditionInput[] as unknown as V1Condition[],
    };
  }

  /**
   * Merges `update` into the status and writes it only when something changed. Conditions are merged by type,
   * keeping each one's transition time while its status stays the same.
   */
  private async writeStatus(
    tcp: TenantControlPlane,
    update: Omit<Partial<TenantControlPlaneStatus>, 'conditions'> & { conditions?: (ConditionInput | V1Condition)[] },
  ): Promise<void> {
    const current = tcp.status ?? {};
    let conditions: V1Condition[] = (current.conditions as V1Condition[] | undefined) ?? [];
    for (const condition of update.conditions ?? []) {
      conditions = setCondition(conditions, condition as ConditionInput, tcp.metadata.generation, this.now());
    }
    const next = { ...current, ...update, conditions };
    if (checksum(next) === checksum(current)) return;
    const written = await patchStatus<TenantControlPlane>(
      this.deps.client,
      tenantControlPlaneResource,
      { namespace: tcp.metadata.namespace, name: tcp.metadata.name ?? '' },
      next as Record<string, unknown>,
    );
    const before = current.kubernetesResources?.version?.status;
    const after = written.status?.kubernetesResources?.version?.status;
    tcp.status = written.status;
    if (after && after !== before) {
      const message = before ? `${before} → ${after}` : after;
      await this.deps.events.record(tcp, after === 'NotReady' ? 'Warning' : 'Normal', after, message);
    }
  }

  // ---- deletion ----

  /**
   * Revokes the tenant's datastore access and deletes its keys before letting the TCP go. If the datastore is
   * unreachable the finalizer stays and the status says so; once it is back, deletion completes.
   */
  private async finalize(tcp: TenantControlPlane): Promise<ReconcileResult> {
    if (!tcp.metadata.finalizers?.includes(TENANT_FINALIZER)) return {};
    const { dataStore, dataStoreSchema, dataStoreUsername } = tcp.spec;
    if (dataStore && dataStoreSchema && dataStoreUsername) {
      const stored = this.deps.observed.dataStore(dataStore);
      if (stored) {
        try {
          const connection = await this.deps.dataStores.connectionFor(stored);
          const { deletedKeys } = await connection.driver.deleteTenant({
            schema: dataStoreSchema,
            username: dataStoreUsername,
          });
          await this.deps.events.record(
            tcp,
            'Normal',
            'DataDeleted',
            `deleted ${deletedKeys} keys under /${dataStoreSchema}/ and user ${dataStoreUsername}`,
          );
        } catch (error) {
          const message = `cannot delete the tenant's data yet: ${(error as Error).message}`;
          await this.writeStatus(tcp, {
            conditions: [{ type: 'DataStoreReady', status: 'False', reason: 'DeletionBlocked', message }],
          });
          await this.deps.events.record(tcp, 'Warning', 'DeletionBlocked', message);
          return { requeueAfterMs: RETRY_SOON_MS };
        }
      } else {
        // Its DataStore is gone (it cannot be deleted while in use, so this is an operator's manual act).
        await this.deps.events.record(
          tcp,
          'Warning',
          'DataStoreGone',
          `DataStore ${dataStore} no longer exists; nothing to delete there`,
        );
      }
    }
    await this.deleteOwnedObjects(tcp);
    this.converged.delete(`${tcp.metadata.namespace}/${tcp.metadata.name}`);
    const finalizers = (tcp.metadata.finalizers ?? []).filter((finalizer) => finalizer !== TENANT_FINALIZER);
    await this.patchTcp(tcp, { metadata: { finalizers, resourceVersion: tcp.metadata.resourceVersion } });
    return {};
  }

  /** Owner references let the garbage collector do this too; deleting now does not depend on it running. */
  private async deleteOwnedObjects(tcp: TenantControlPlane): Promise<void> {
    const namespace = tcp.metadata.namespace ?? '';
    const labelSelector = `${LABEL_TENANT}=${tcp.metadata.name}`;
    await Promise.all(
      [builtinResources.deployment, builtinResources.secret].map((type) =>
        this.deps.client.request('DELETE', resourcePath(type, { namespace }), { query: { labelSelector } }),
      ),
    );
    // Services have no collection delete: remove by name.
    await this.deps.client
      .request(
        'DELETE',
        resourcePath(builtinResources.service, { namespace, name: objectNames(tcp.metadata.name ?? '').service }),
      )
      .catch((error: unknown) => {
        if (!hasStatus(error, 404)) throw error;
      });
  }

  // ---- helpers ----

  private owned<T extends KubernetesObject>(tcp: TenantControlPlane, object: T): T {
    return { ...object, metadata: { ...object.metadata, ownerReferences: [controllerReference(tcp)] } };
  }

  private async ownedSecrets(tcp: TenantControlPlane): Promise<Map<string, SecretText>> {
    const list = await this.deps.client.request<{ items: V1Secret[] }>(
      'GET',
      resourcePath(builtinResources.secret, { namespace: tcp.metadata.namespace }),
      { query: { labelSelector: `${LABEL_TENANT}=${tcp.metadata.name}` } },
    );
    return new Map(list.items.map((secret) => [secret.metadata?.name ?? '', decodeSecretData(secret)]));
  }

  private patchTcp(tcp: TenantControlPlane, patch: Record<string, unknown>): Promise<TenantControlPlane> {
    const location = { namespace: tcp.metadata.namespace, name: tcp.metadata.name };
    return mergePatch<TenantControlPlane>(this.deps.client, tenantControlPlaneResource, location, patch);
  }
}

function optionalVersion(version: string | undefined): { version?: string } {
  return version ? { version } : {};
}
