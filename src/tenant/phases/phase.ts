import type { V1Deployment, V1PodDisruptionBudget, V1Service } from '@kubernetes/client-node';
import type { DataStore } from '../../api/v1alpha1/datastore.ts';
import type { DefaultedTenantControlPlaneSpec } from '../../api/v1alpha1/defaults.ts';
import type { TenantControlPlane, TenantControlPlaneStatus } from '../../api/v1alpha1/tenant-control-plane.ts';
import type { EventRecorder } from '../../controller/events.ts';
import type { KubeClient } from '../../controller/kube-client.ts';
import type { DataStoreConnection, DataStoreConnections } from '../../datastore/connections.ts';
import type { KeyAlgorithm } from '../../pki/certificates.ts';
import type { ConditionInput } from '../conditions.ts';
import type { TenantContext } from '../context.ts';

export interface ObservedSecret {
  /** The checksum annotation Kamaji wrote on it. */
  checksum: string | undefined;
  /** `kamaji.clastix.io/paused` on it: an operator took it over by hand; Kamaji leaves it as it is. */
  paused: boolean;
}

/** What the informers have seen: reads that cost no API call. They may lag our own writes by a moment. */
export interface ObservedObjects {
  tenant(namespace: string, name: string): TenantControlPlane | undefined;
  dataStore(name: string): DataStore | undefined;
  service(namespace: string, name: string): V1Service | undefined;
  deployment(namespace: string, name: string): V1Deployment | undefined;
  /** Metadata is enough: the checksum annotation and the owner reference. */
  podDisruptionBudget(namespace: string, name: string): V1PodDisruptionBudget | undefined;
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
  /** Called with each phase's name and duration, for metrics. */
  observeStep?(step: string, seconds: number): void;
  now?(): Date;
}

/** The spec with its defaults and the datastore identity the claim settled. */
export type ClaimedSpec = DefaultedTenantControlPlaneSpec & {
  dataStore: string;
  dataStoreSchema: string;
  dataStoreUsername: string;
};

/** The conditions the phases report; `Ready` summarises them (see ready.ts). */
export type PhaseConditionType =
  | 'Valid'
  | 'DataStoreReady'
  | 'DataStoreMigrated'
  | 'EndpointReady'
  | 'CertificatesReady'
  | 'ControlPlaneAvailable'
  | 'KubeadmResourcesReady'
  | 'AddonsReady';

/** A condition as a phase reports it; the pipeline adds the phase's type. */
export type PhaseCondition = Omit<ConditionInput, 'type'>;

export type StatusUpdate = Omit<Partial<TenantControlPlaneStatus>, 'conditions'>;

/**
 * One reconcile of one tenant: what earlier phases produced for later ones, and the status slices each phase
 * observed. A field is set by the phase that owns it; a later phase reading it before then is a programming error.
 */
export class TenantReconcile {
  readonly key: string;
  tcp: TenantControlPlane;
  status: StatusUpdate = {};
  private claimed?: ClaimedSpec;
  private connection?: DataStoreConnection;
  private serviceEndpoint?: { service: V1Service; address: string; port: number };
  private tenantContext?: TenantContext;
  private templateChecksum?: string;
  private password?: string;

  constructor(key: string, tcp: TenantControlPlane) {
    this.key = key;
    this.tcp = tcp;
  }

  get spec(): ClaimedSpec {
    return required(this.claimed, 'spec', 'claim');
  }
  set spec(spec: ClaimedSpec) {
    this.claimed = spec;
  }
  get dataStore(): DataStoreConnection {
    return required(this.connection, 'dataStore', 'datastore');
  }
  set dataStore(connection: DataStoreConnection) {
    this.connection = connection;
  }
  /** The tenant user's password on a SQL DataStore (kept in `<tcp>-datastore-config`). */
  get dataStorePassword(): string {
    return required(this.password, 'dataStorePassword', 'datastore');
  }
  set dataStorePassword(password: string) {
    this.password = password;
  }
  get endpoint(): { service: V1Service; address: string; port: number } {
    return required(this.serviceEndpoint, 'endpoint', 'service');
  }
  set endpoint(endpoint: { service: V1Service; address: string; port: number }) {
    this.serviceEndpoint = endpoint;
  }
  get context(): TenantContext {
    return required(this.tenantContext, 'context', 'secrets');
  }
  set context(context: TenantContext) {
    this.tenantContext = context;
  }
  /** Checksum of every certificate and kubeconfig the pods mount: a change rolls them. */
  get podTemplateChecksum(): string {
    return required(this.templateChecksum, 'podTemplateChecksum', 'secrets');
  }
  set podTemplateChecksum(value: string) {
    this.templateChecksum = value;
  }

  get name(): string {
    return this.tcp.metadata.name ?? '';
  }
  get namespace(): string {
    return this.tcp.metadata.namespace ?? '';
  }

  /** Adds a phase's observations to the status this pass writes (objects merged, lists replaced). */
  observe(update: StatusUpdate): void {
    this.status = mergeStatus(this.status, update);
  }
}

function required<T>(value: T | undefined, field: string, phase: string): T {
  if (value === undefined) throw new Error(`pipeline order: ${field} is read before the ${phase} phase set it`);
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge of status objects: nested objects merge, anything else (lists included) is replaced. */
export function mergeStatus<T extends object>(base: T, update: object): T {
  const merged: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [key, value] of Object.entries(update)) {
    const previous = merged[key];
    merged[key] = isPlainObject(previous) && isPlainObject(value) ? mergeStatus(previous, value) : value;
  }
  return merged as T;
}

/** What a phase observed: the condition it reports (if any) and when the tenant should be looked at again. */
export interface PhaseOutcome {
  condition?: PhaseCondition;
  requeueAfterMs?: number;
}

/**
 * One step of the pipeline: reads the tenant and what earlier phases produced, applies its desired objects (or
 * datastore grant), and reports what it observed as its condition. Re-runnable: it reads before it writes.
 */
export interface Phase {
  readonly name: string;
  readonly condition: PhaseConditionType;
  run(reconcile: TenantReconcile): Promise<PhaseOutcome>;
  /** Drops what the phase remembers of a tenant (it was deleted). */
  forget?(key: string): void;
}

/** Stops this pass and reports why in the phase's condition; `retryAfterMs` undefined waits for a change. */
export class Blocked extends Error {
  readonly condition: PhaseCondition;
  readonly retryAfterMs: number | undefined;
  constructor(condition: PhaseCondition, retryAfterMs: number | undefined) {
    super(condition.message);
    this.condition = condition;
    this.retryAfterMs = retryAfterMs;
  }
}

/** While something outside is not there yet (a datastore, an address), look again this often. */
export const RETRY_SOON_MS = 10_000;
