import type { V1Condition } from '@kubernetes/client-node';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { dataStoreResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { describeProblems, validateDataStoreSpec } from '../api/v1alpha1/validation.ts';
import { type ApiCaller, checksum, mergePatch, patchStatus, readObject } from '../controller/apply.ts';
import type { EventRecorder } from '../controller/events.ts';
import type { Informer } from '../controller/informer.ts';
import { objectKey } from '../controller/kube-client.ts';
import type { ReconcileResult } from '../controller/work-queue.ts';
import type { DataStoreConnections } from '../datastore/connections.ts';
import { type ConditionInput, setCondition } from '../tenant/conditions.ts';

export const DATASTORE_FINALIZER = 'finalizer.kamaji.clastix.io/datastore';
/** How often a DataStore's reachability is checked: a tenant learns of an outage within this (plus its own check). */
export const RECHECK_MS = 10_000;

export interface DataStoreReconcilerDependencies {
  client: ApiCaller;
  events: Pick<EventRecorder, 'record'>;
  tenants: Pick<Informer<TenantControlPlane>, 'list'>;
  connections: Pick<DataStoreConnections, 'connectionFor' | 'refresh' | 'retire'>;
  /** Wakes the tenants of a DataStore whose reachability changed, so that their status says so at once. */
  requeueTenants?(keys: readonly string[]): void;
  now?: () => Date;
}

/**
 * The `namespace/name` of each tenant whose data is in the DataStore, sorted: where its claim recorded it (a new
 * tenant has only its spec yet), and both ends of a migration under way or awaiting its cleanup.
 */
export function tenantsUsing(tenants: readonly TenantControlPlane[], dataStore: string): string[] {
  const holds = (tcp: TenantControlPlane) => {
    const storage = tcp.status?.storage;
    const migration = storage?.migration;
    return [storage?.dataStoreName ?? tcp.spec.dataStore, migration?.source, migration?.target].includes(dataStore);
  };
  return tenants.filter(holds).map(objectKey).sort();
}

/** Why a DataStore is not deleted yet, and what to do. */
export function inUseMessage(usedBy: readonly string[]): string {
  return `cannot be deleted while TenantControlPlanes store data in it: ${usedBy.join(', ')}; delete them first`;
}

/**
 * Keeps a DataStore's status (valid, ready, usedBy) true to what is observed, and holds its deletion with a
 * finalizer for as long as a TenantControlPlane stores data in it.
 */
export class DataStoreReconciler {
  private readonly deps: DataStoreReconcilerDependencies;

  constructor(deps: DataStoreReconcilerDependencies) {
    this.deps = deps;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    let dataStore = await readObject<DataStore>(this.deps.client, dataStoreResource, { name });
    if (!dataStore) return {};
    const usedBy = tenantsUsing(this.deps.tenants.list(), name);
    const finalizers = dataStore.metadata.finalizers ?? [];
    if (dataStore.metadata.deletionTimestamp) {
      if (usedBy.length > 0) {
        await this.deps.events.record(dataStore, 'Warning', 'InUse', inUseMessage(usedBy));
        return {};
      }
      this.deps.connections.retire(name);
      if (finalizers.includes(DATASTORE_FINALIZER)) {
        await this.patchFinalizers(
          dataStore,
          finalizers.filter((item) => item !== DATASTORE_FINALIZER),
        );
      }
      return {};
    }
    if (!finalizers.includes(DATASTORE_FINALIZER)) {
      dataStore = await this.patchFinalizers(dataStore, [...finalizers, DATASTORE_FINALIZER]);
    }

    const problems = validateDataStoreSpec(dataStore.spec);
    let ready = false;
    let valid: ConditionInput;
    if (problems.length > 0) {
      const message = describeProblems(problems);
      valid = { type: 'Valid', status: 'False', reason: 'InvalidSpec', message };
      await this.deps.events.record(dataStore, 'Warning', 'InvalidSpec', message);
    } else {
      valid = { type: 'Valid', status: 'True', reason: 'Valid', message: 'the spec is valid' };
      try {
        if (await this.deps.connections.refresh(dataStore)) {
          const message = 'the credentials in its Secrets changed: connections and tenants use the new ones';
          await this.deps.events.record(dataStore, 'Normal', 'CredentialsChanged', message);
          // Their Secrets (the etcd client certificate, kine's CA) are built from the DataStore's.
          this.deps.requeueTenants?.(usedBy);
        }
        const connection = await this.deps.connections.connectionFor(dataStore);
        await connection.driver.check();
        ready = true;
      } catch (error) {
        await this.deps.events.record(dataStore, 'Warning', 'NotReady', (error as Error).message);
      }
    }
    await this.writeStatus(dataStore, { ready, usedBy, valid });
    if (dataStore.status?.ready !== undefined && dataStore.status.ready !== ready) this.deps.requeueTenants?.(usedBy);
    // An invalid spec waits for its next change, which reconciles it again.
    return problems.length > 0 ? {} : { requeueAfterMs: RECHECK_MS };
  }

  /**
   * The finalizer list as a compare-and-swap: with the resourceVersion it was read at, a concurrent change (another
   * controller's finalizer added meanwhile) makes the write fail with 409 and the reconcile retry, instead of
   * replacing the list without it.
   */
  private patchFinalizers(dataStore: DataStore, finalizers: string[]): Promise<DataStore> {
    return mergePatch<DataStore>(
      this.deps.client,
      dataStoreResource,
      { name: dataStore.metadata.name ?? '' },
      { metadata: { finalizers, resourceVersion: dataStore.metadata.resourceVersion } },
    );
  }

  /** Writes the status only when it changed; the Valid condition keeps its transition time while it holds. */
  private async writeStatus(
    dataStore: DataStore,
    observed: { ready: boolean; usedBy: string[]; valid: ConditionInput },
  ): Promise<void> {
    const current = dataStore.status;
    const generation = dataStore.metadata.generation;
    const conditions = setCondition(
      current?.conditions ?? [],
      observed.valid,
      generation,
      this.deps.now?.() ?? new Date(),
    );
    const status = {
      ready: observed.ready,
      usedBy: observed.usedBy,
      conditions,
      ...(generation === undefined ? {} : { observedGeneration: generation }),
    };
    const before = {
      ready: current?.ready,
      usedBy: current?.usedBy ?? [],
      conditions: current?.conditions ?? ([] as V1Condition[]),
      ...(current?.observedGeneration === undefined ? {} : { observedGeneration: current.observedGeneration }),
    };
    if (checksum(status) === checksum(before)) return;
    await patchStatus(this.deps.client, dataStoreResource, { name: dataStore.metadata.name ?? '' }, status);
  }
}
