import { applyTenantControlPlaneDefaults } from '../../api/v1alpha1/defaults.ts';
import { tenantControlPlaneResource } from '../../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { mergePatch, patchStatus } from '../../controller/apply.ts';
import { Blocked, type ClaimedSpec, type Phase, type PipelineDependencies, type TenantReconcile } from './phase.ts';

export const TENANT_FINALIZER = 'finalizer.kamaji.clastix.io';

/** Why a TenantControlPlane cannot be placed: no DataStore named and no default. */
export const NO_DATASTORE_MESSAGE =
  'spec.dataStore is not set and the manager has no default (--datastore): name a DataStore';

/**
 * Our finalizer, and dataStore, dataStoreSchema and dataStoreUsername chosen once and stored in the spec, in one
 * write, before anything is granted: CEL rules keep the schema and user from changing, so even a pass that crashes
 * before its status write leaves a truthful record of the tenant's identity. `status.storage.dataStoreName` says
 * where the data is: the later phases serve that DataStore, and a spec.dataStore that differs from it is a
 * migration the migration phase carries out (it moves `status.storage.dataStoreName` when it switches).
 */
export class ClaimPhase implements Phase {
  readonly name = 'claim';
  readonly condition = 'DataStoreReady' as const;
  private readonly deps: PipelineDependencies;

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  async run(reconcile: TenantReconcile) {
    const tcp = reconcile.tcp;
    const spec = applyTenantControlPlaneDefaults(tcp.spec, { defaultDataStore: this.deps.defaultDataStore });
    if (!spec.dataStore) {
      throw new Blocked(
        {
          status: 'False',
          reason: 'NoDataStore',
          message: NO_DATASTORE_MESSAGE,
        },
        undefined,
      );
    }
    // The UID is unique and stable; underscores keep it a valid identifier for SQL datastores too.
    const identity = (tcp.metadata.uid ?? '').replaceAll('-', '_');
    const wanted = {
      dataStore: spec.dataStore,
      dataStoreSchema: tcp.spec.dataStoreSchema || identity,
      dataStoreUsername: tcp.spec.dataStoreUsername || identity,
    };
    // Until a migration switches it, the data stays where the claim first recorded it.
    const dataStore = tcp.status?.storage?.dataStoreName || wanted.dataStore;
    const claimed: ClaimedSpec = { ...spec, ...wanted, dataStore };
    const finalizers = tcp.metadata.finalizers ?? [];
    const specSet = Object.entries(wanted).every(([key, value]) => tcp.spec[key as keyof typeof wanted] === value);
    let current = tcp;
    if (!specSet || !finalizers.includes(TENANT_FINALIZER)) {
      current = await mergePatch<TenantControlPlane>(this.deps.client, tenantControlPlaneResource, location(tcp), {
        // The resourceVersion makes the finalizer list a compare-and-swap: nobody else's finalizer is dropped.
        metadata: {
          finalizers: [...new Set([...finalizers, TENANT_FINALIZER])],
          resourceVersion: tcp.metadata.resourceVersion,
        },
        spec: wanted,
      });
    }
    const storage = {
      dataStoreName: dataStore,
      setup: { schema: wanted.dataStoreSchema, user: wanted.dataStoreUsername },
    };
    if (!tcp.status?.storage?.dataStoreName) {
      // Recorded before anything is granted: spec.dataStore may change from now on (a migration), and whatever
      // this pass grants must stay findable even if it crashes before its status write.
      current = await patchStatus<TenantControlPlane>(this.deps.client, tenantControlPlaneResource, location(tcp), {
        storage,
      });
    }
    reconcile.tcp = current;
    reconcile.spec = claimed;
    reconcile.observe({ storage });
    return {};
  }
}

function location(tcp: TenantControlPlane) {
  return { namespace: tcp.metadata.namespace, name: tcp.metadata.name ?? '' };
}
