import type { KubernetesObject } from '@kubernetes/client-node';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { dataStoreResource, tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { mergePatch, readObject } from '../controller/apply.ts';
import { builtinResources, resourcePath } from '../controller/kube-client.ts';
import type { ReconcileResult } from '../controller/work-queue.ts';
import type { ConditionInput } from './conditions.ts';
import { LABEL_TENANT } from './names.ts';
import { TENANT_FINALIZER } from './phases/claim.ts';
import { deleteExactly, isOwnedBy } from './phases/owned.ts';
import { type PipelineDependencies, RETRY_SOON_MS } from './phases/phase.ts';
import { podDisruptionBudgetResource } from './steps/disruption-budget.ts';

/**
 * Where the tenant's data lives: the DataStore the status records (the spec may name a migration's target), and
 * both sides of a migration under way (a partial copy, or a source not cleaned yet).
 */
function storageOf(tcp: TenantControlPlane) {
  const storage = tcp.status?.storage;
  const migration = storage?.migration;
  const dataStores = [storage?.dataStoreName || tcp.spec.dataStore, migration?.source, migration?.target];
  return {
    dataStores: [...new Set(dataStores.filter((name): name is string => name !== undefined && name !== ''))],
    schema: storage?.setup?.schema || tcp.spec.dataStoreSchema,
    username: storage?.setup?.user || tcp.spec.dataStoreUsername,
  };
}

/**
 * Deletes a TCP's datastore grant and data, then the objects it owns, then lets it go. Only what this TCP owns is
 * touched: the datastore checks its owner records, and objects are deleted only when controlled by this UID. If
 * the datastore is unreachable the finalizer stays and the status says so; once it is back, deletion completes.
 */
export async function finalizeTenant(
  deps: PipelineDependencies,
  tcp: TenantControlPlane,
  writeCondition: (condition: ConditionInput) => Promise<void>,
): Promise<ReconcileResult> {
  if (!tcp.metadata.finalizers?.includes(TENANT_FINALIZER)) return {};
  const { dataStores, schema, username } = storageOf(tcp);
  if (schema && username) {
    for (const dataStore of dataStores) {
      try {
        await deleteTenantData(deps, tcp, dataStore, { schema, username });
      } catch (error) {
        const message = `cannot delete the tenant's data on DataStore ${dataStore} yet: ${(error as Error).message}`;
        await writeCondition({ type: 'DataStoreReady', status: 'False', reason: 'DeletionBlocked', message });
        await deps.events.record(tcp, 'Warning', 'DeletionBlocked', message);
        return { requeueAfterMs: RETRY_SOON_MS };
      }
    }
  }
  await deleteOwnedObjects(deps, tcp);
  const finalizers = (tcp.metadata.finalizers ?? []).filter((finalizer) => finalizer !== TENANT_FINALIZER);
  await mergePatch(
    deps.client,
    tenantControlPlaneResource,
    { namespace: tcp.metadata.namespace, name: tcp.metadata.name },
    { metadata: { finalizers, resourceVersion: tcp.metadata.resourceVersion } },
  );
  return {};
}

/**
 * Deletes the tenant's data, user and grant on one DataStore (only what this TCP owns) and says so in an Event;
 * returns the keys deleted. A DataStore that no longer exists holds nothing to delete.
 */
export async function deleteTenantData(
  deps: Pick<PipelineDependencies, 'client' | 'dataStores' | 'events'>,
  tcp: TenantControlPlane,
  dataStore: string,
  storage: { schema: string; username: string },
): Promise<number> {
  const { schema, username } = storage;
  // A live read: only a 404 means the DataStore is gone; any other error holds the deletion.
  const stored = await readObject<DataStore>(deps.client, dataStoreResource, { name: dataStore });
  if (!stored) {
    // It cannot be deleted while in use, so this is an operator's manual act (or a migration target removed).
    await deps.events.record(
      tcp,
      'Warning',
      'DataStoreGone',
      `DataStore ${dataStore} no longer exists; nothing to delete there`,
    );
    return 0;
  }
  const connection = await deps.dataStores.connectionFor(stored);
  const owner = { uid: tcp.metadata.uid ?? '', namespace: tcp.metadata.namespace ?? '', name: tcp.metadata.name ?? '' };
  const { deletedKeys, notOwned } = await connection.driver.deleteTenant(storage, owner);
  const left = notOwned.length > 0 ? `; left alone, owned by another tenant: ${notOwned.join(', ')}` : '';
  await deps.events.record(
    tcp,
    'Normal',
    'DataDeleted',
    `deleted ${deletedKeys} keys of schema ${schema} and user ${username} on DataStore ${dataStore}${left}`,
  );
  return deletedKeys;
}

/**
 * Owner references let the garbage collector do this too; deleting now does not depend on it running. Objects
 * that carry the tenant's label but another controller (a TCP of the same name before, or someone's copy) stay.
 */
async function deleteOwnedObjects(deps: PipelineDependencies, tcp: TenantControlPlane): Promise<void> {
  const namespace = tcp.metadata.namespace ?? '';
  const labelSelector = `${LABEL_TENANT}=${tcp.metadata.name}`;
  // The only ConfigMap is Konnectivity's egress selector configuration: no extra call for tenants without it.
  const hadKonnectivity = tcp.spec.addons?.konnectivity !== undefined || tcp.status?.addons?.konnectivity !== undefined;
  const types = [
    builtinResources.secret,
    ...(hadKonnectivity ? [builtinResources.configMap] : []),
    builtinResources.deployment,
    builtinResources.service,
    podDisruptionBudgetResource,
  ];
  await Promise.all(
    types.map(async (type) => {
      const list = await deps.client.request<{ items: KubernetesObject[] }>('GET', resourcePath(type, { namespace }), {
        query: { labelSelector },
      });
      await Promise.all(
        list.items.filter((object) => isOwnedBy(object, tcp)).map((object) => deleteExactly(deps.client, type, object)),
      );
    }),
  );
}
