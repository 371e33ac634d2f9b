import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { dataStoreResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { checksum, mergePatch, patchStatus, readObject } from '../controller/apply.ts';
import type { EventRecorder } from '../controller/events.ts';
import type { Informer } from '../controller/informer.ts';
import { type KubeClient, objectKey } from '../controller/kube-client.ts';
import type { ReconcileResult } from '../controller/work-queue.ts';
import type { DataStoreConnections } from '../datastore/connections.ts';

export const DATASTORE_FINALIZER = 'finalizer.kamaji.clastix.io/datastore';
const RECHECK_MS = 60_000;

export interface DataStoreReconcilerDependencies {
  client: KubeClient;
  events: EventRecorder;
  tenants: Informer<TenantControlPlane>;
  connections: DataStoreConnections;
}

/**
 * Keeps a DataStore's status (ready, usedBy) true to what is observed, and holds its deletion with a finalizer
 * for as long as a TenantControlPlane stores data in it.
 */
export class DataStoreReconciler {
  private readonly deps: DataStoreReconcilerDependencies;

  constructor(deps: DataStoreReconcilerDependencies) {
    this.deps = deps;
  }

  async reconcile(name: string): Promise<ReconcileResult> {
    const dataStore = await readObject<DataStore>(this.deps.client, dataStoreResource, { name });
    if (!dataStore) return {};
    const usedBy = this.deps.tenants
      .list()
      .filter((tcp) => tcp.spec.dataStore === name)
      .map(objectKey)
      .sort();
    const finalizers = dataStore.metadata.finalizers ?? [];
    if (dataStore.metadata.deletionTimestamp) {
      if (usedBy.length > 0) {
        await this.deps.events.record(
          dataStore,
          'Warning',
          'InUse',
          `cannot be deleted while TenantControlPlanes store data in it: ${usedBy.join(', ')}`,
        );
        return {};
      }
      this.deps.connections.retire(name);
      await mergePatch(
        this.deps.client,
        dataStoreResource,
        { name },
        {
          metadata: { finalizers: finalizers.filter((item) => item !== DATASTORE_FINALIZER) },
        },
      );
      return {};
    }
    if (!finalizers.includes(DATASTORE_FINALIZER)) {
      await mergePatch(
        this.deps.client,
        dataStoreResource,
        { name },
        { metadata: { finalizers: [...finalizers, DATASTORE_FINALIZER] } },
      );
    }
    let ready = false;
    try {
      const connection = await this.deps.connections.connectionFor(dataStore);
      await connection.driver.check();
      ready = true;
    } catch (error) {
      await this.deps.events.record(dataStore, 'Warning', 'NotReady', (error as Error).message);
    }
    const status = { ready, usedBy };
    if (checksum(status) !== checksum({ ready: dataStore.status?.ready, usedBy: dataStore.status?.usedBy ?? [] })) {
      await patchStatus(this.deps.client, dataStoreResource, { name }, status);
    }
    return { requeueAfterMs: RECHECK_MS };
  }
}
