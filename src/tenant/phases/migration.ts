import { tenantControlPlaneResource } from '../../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { patchStatus } from '../../controller/apply.ts';
import type { DataStoreConnection } from '../../datastore/connections.ts';
import type { TenantStorage } from '../../datastore/driver.ts';
import type { KeyspaceOptions } from '../../datastore/keyspace/keyspace.ts';
import { deleteTenantData } from '../finalize.ts';
import { deploymentRolledOut } from '../status.ts';
import type { TenantClients } from '../tenant-clients.ts';
import { reachableDataStore, refusalMessage, storedPassword } from './datastore.ts';
import { copyKeyspace, freezeTenant, thawTenant } from './migration-io.ts';
import {
  Blocked,
  type Phase,
  type PhaseOutcome,
  type PipelineDependencies,
  RETRY_SOON_MS,
  type TenantReconcile,
} from './phase.ts';

/**
 * Moving a tenant to another DataStore when spec.dataStore changes (docs/migration.md). `status.storage` says where
 * the data is until the switch, and `status.storage.migration` records every step before it is taken, so that a
 * manager killed at any point resumes: a copy under way is redone from the start (the target made exactly the
 * source), a switch done is finished, a failed one rolled back.
 *
 * MigrationPhase (after the datastore phase): target reachable and claimed with the same schema, user and
 * password → writes frozen in the tenant → keys copied and verified → switch. Later phases then serve the target
 * and the pods roll. MigrationCompletionPhase (migration-completion.ts, after the deployment phase): once the
 * control plane runs on the target alone, the freeze is lifted and the source's data, user and grant deleted.
 */

export type MigrationRecord = NonNullable<
  NonNullable<NonNullable<TenantControlPlane['status']>['storage']>['migration']
>;

/** The first retry after a failed attempt, doubled at each further one up to MAX_BACKOFF_MS. */
export const FIRST_BACKOFF_MS = 10_000;
export const MAX_BACKOFF_MS = 5 * 60_000;
/** How long a rollback tries to lift the freeze (every API server serves the source then). */
const ROLLBACK_THAW_MS = 30_000;

/** How long to wait before retrying after `attempts` failed attempts. */
export function backoffMs(attempts: number): number {
  return Math.min(FIRST_BACKOFF_MS * 2 ** Math.max(0, attempts - 1), MAX_BACKOFF_MS);
}

/** What to do this pass, from where the data is, where the spec wants it, and the record of a migration. */
export type MigrationAction =
  | { kind: 'none' }
  /** A switch is done: the completion phase finishes it. */
  | { kind: 'finishing' }
  /** A copy to a target the spec no longer names (changed again, or back to where the data is): undo it. */
  | { kind: 'abandon'; record: MigrationRecord; thenMigrate: boolean }
  | { kind: 'wait'; record: MigrationRecord; retryInMs: number }
  | { kind: 'migrate'; source: string; target: string; attempts: number };

export function migrationAction(
  current: string,
  wanted: string,
  record: MigrationRecord | undefined,
  now: number,
): MigrationAction {
  if (record?.step === 'Switched') return { kind: 'finishing' };
  if (record && (record.target !== wanted || record.source !== current)) {
    return { kind: 'abandon', record, thenMigrate: wanted !== current };
  }
  if (wanted === current) return { kind: 'none' };
  const attempts = record?.attempts ?? 0;
  if (record?.step === 'Failed') {
    const retryInMs = Date.parse(record.lastUpdate ?? '') + backoffMs(attempts) - now;
    if (retryInMs > 0) return { kind: 'wait', record, retryInMs };
  }
  return { kind: 'migrate', source: current, target: wanted, attempts };
}

/** A step that failed, with the condition reason to report. */
class MigrationFailure extends Error {
  readonly reason: string;
  constructor(reason: string, message: string) {
    super(message);
    this.reason = reason;
  }
}

interface MigrationOptions {
  keyspace?: KeyspaceOptions;
}

export class MigrationPhase implements Phase {
  readonly name = 'migration';
  readonly condition = 'DataStoreMigrated' as const;
  private readonly deps: PipelineDependencies;
  private readonly clients: TenantClients;
  private readonly options: MigrationOptions;

  constructor(deps: PipelineDependencies, clients: TenantClients, options: MigrationOptions = {}) {
    this.deps = deps;
    this.clients = clients;
    this.options = options;
  }

  async run(reconcile: TenantReconcile): Promise<PhaseOutcome> {
    const current = reconcile.spec.dataStore;
    const wanted = reconcile.tcp.spec.dataStore || current;
    const now = this.deps.now?.() ?? new Date();
    let action = migrationAction(current, wanted, reconcile.tcp.status?.storage?.migration, now.getTime());
    if (action.kind === 'abandon') {
      const { record } = action;
      await this.rollBack(reconcile, record);
      await this.writeRecord(reconcile, null);
      const message = `migration to DataStore ${record.target} abandoned: spec.dataStore is now ${wanted}; its partial copy there was removed and writes are allowed again`;
      await this.deps.events.record(reconcile.tcp, 'Normal', 'MigrationAbandoned', message);
      if (!action.thenMigrate) return { condition: { status: 'True', reason: 'Abandoned', message } };
      action = migrationAction(current, wanted, undefined, now.getTime());
    }
    switch (action.kind) {
      case 'none':
        return this.settled(reconcile, current);
      case 'finishing':
        return {};
      case 'wait':
        return {
          condition: failedCondition(action.record.message ?? '', action.retryInMs),
          requeueAfterMs: action.retryInMs,
        };
      case 'migrate':
        return this.migrate(reconcile, action.source, action.target, action.attempts);
      case 'abandon':
        throw new Error('a migration is abandoned at most once per pass');
    }
  }

  private async migrate(
    reconcile: TenantReconcile,
    source: string,
    target: string,
    attempts: number,
  ): Promise<PhaseOutcome> {
    // Nothing is written before the target is reachable and writes can be frozen: until then the tenant runs on.
    const notYet = (reason: string, why: string): PhaseOutcome => ({
      condition: {
        status: 'False',
        reason,
        message: `cannot migrate from DataStore ${source} to ${target} yet: ${why}; the tenant stays on ${source}`,
      },
      requeueAfterMs: RETRY_SOON_MS,
    });
    let reached: Awaited<ReturnType<typeof reachableDataStore>>;
    try {
      reached = await this.reachTarget(reconcile, target);
    } catch (error) {
      if (!(error instanceof MigrationFailure)) throw error;
      return notYet(error.reason, error.message);
    }
    const live = this.deps.observed.deployment(reconcile.namespace, reconcile.name);
    if (!live || (live.spec?.replicas ?? 1) === 0 || !deploymentRolledOut(live)) {
      return notYet(
        'WaitingForControlPlane',
        'writes are frozen through the control plane during the copy, so it must be Ready first (scale it up if it is asleep)',
      );
    }
    const record = { source, target, attempts };
    await this.writeRecord(reconcile, { ...record, step: 'Copying' }, 'Migrating');
    await this.deps.events.record(
      reconcile.tcp,
      'Normal',
      'MigrationStarted',
      `moving the tenant's data from DataStore ${source} to ${target}`,
    );
    try {
      const { dataStore, connection } = reached;
      const storage = await this.storage(reconcile, connection);
      await this.claimTarget(reconcile, connection, storage, target);
      await freezeTenant(await this.clients.connect(reconcile), source, target, live.spec?.replicas ?? 1);
      const keys = await copyKeyspace(reconcile.dataStore, connection, storage, this.options.keyspace).catch(
        (error: Error) => {
          throw new MigrationFailure('CopyFailed', `copying the keys failed: ${error.message}`);
        },
      );
      // The switch: from this write on, the tenant's data is the target's.
      const driver = dataStore.spec.driver;
      await this.writeRecord(reconcile, { ...record, step: 'Switched', keys }, 'Migrating', {
        dataStoreName: target,
        driver,
      });
      reconcile.observe({ storage: { dataStoreName: target, driver } });
      reconcile.dataStore = connection;
      if (storage.password !== undefined) reconcile.dataStorePassword = storage.password;
      await this.deps.events.record(
        reconcile.tcp,
        'Normal',
        'MigrationSwitched',
        `${keys} keys copied from DataStore ${source} to ${target}; the control plane now rolls onto ${target}`,
      );
      return {};
    } catch (error) {
      return this.fail(reconcile, { ...record, attempts: attempts + 1 }, error as Error);
    }
  }

  /** Nothing to move. A condition left by a migration that could not start is replaced; none is added otherwise. */
  private settled(reconcile: TenantReconcile, current: string): PhaseOutcome {
    const conditions = reconcile.tcp.status?.conditions ?? [];
    const previous = conditions.find((condition) => condition.type === this.condition);
    if (!previous || previous.status === 'True') return {};
    return {
      condition: {
        status: 'True',
        reason: 'NotNeeded',
        message: `the tenant's data is on DataStore ${current}, the one spec.dataStore names`,
      },
    };
  }

  /** The target DataStore reachable, and not the source's backend under another name. */
  private async reachTarget(reconcile: TenantReconcile, target: string) {
    let reached: Awaited<ReturnType<typeof reachableDataStore>>;
    try {
      reached = await reachableDataStore(this.deps, target);
    } catch (error) {
      if (!(error instanceof Blocked)) throw error;
      throw new MigrationFailure(error.condition.reason, error.condition.message);
    }
    const shared = reached.connection.endpoints.filter((endpoint) => reconcile.dataStore.endpoints.includes(endpoint));
    if (shared.length > 0) {
      // The same schema and user on the same server: deleting the source would delete the copy.
      throw new MigrationFailure(
        'SameBackend',
        `DataStore ${target} serves the same endpoints as ${reconcile.spec.dataStore} (${shared.join(', ')}): a tenant cannot move within one server; name a DataStore on another server in spec.dataStore`,
      );
    }
    return reached;
  }

  /** This tenant's schema and user claimed on the target, with the same password. */
  private async claimTarget(
    reconcile: TenantReconcile,
    connection: DataStoreConnection,
    storage: TenantStorage,
    target: string,
  ): Promise<void> {
    const owner = { uid: reconcile.tcp.metadata.uid ?? '', namespace: reconcile.namespace, name: reconcile.name };
    const refusal = await connection.driver.ensureTenant(storage, owner);
    if (refusal) throw new MigrationFailure(refusal.reason, refusalMessage(refusal, target));
  }

  /**
   * Schema and user as claimed, and the SQL password when either side needs one: the tenant's, or a new one when
   * it moves from etcd (the secrets phase writes it to `<tcp>-datastore-config` once switched).
   */
  private async storage(reconcile: TenantReconcile, target: DataStoreConnection): Promise<TenantStorage> {
    const { dataStoreSchema: schema, dataStoreUsername: username } = reconcile.spec;
    const source = reconcile.dataStore;
    if (source.kind === 'etcd' && target.kind === 'etcd') return { schema, username };
    const password = source.kind === 'etcd' ? await storedPassword(this.deps, reconcile) : reconcile.dataStorePassword;
    return { schema, username, password };
  }

  /** Rolls back: writes allowed again, the target's partial copy removed; retried after a backoff. */
  private async fail(
    reconcile: TenantReconcile,
    record: { source: string; target: string; attempts: number },
    error: Error,
  ): Promise<PhaseOutcome> {
    const failed = { ...record, step: 'Failed' as const };
    const expected = error instanceof MigrationFailure || error instanceof Blocked;
    const cause = expected ? error.message : `unexpected error: ${error.message}`;
    let message = `cannot migrate from DataStore ${record.source} to ${record.target}: ${cause}`;
    try {
      await this.rollBack(reconcile, failed);
      message += `; rolled back: the tenant stays on ${record.source}, writes are allowed again and the partial copy on ${record.target} was removed. Fix DataStore ${record.target} or set spec.dataStore back to ${record.source}`;
    } catch (rollbackError) {
      message += `; the rollback is not complete yet (${(rollbackError as Error).message}): it is retried; the tenant stays on ${record.source}`;
    }
    await this.writeRecord(reconcile, { ...failed, message }, null);
    const retryInMs = backoffMs(record.attempts);
    await this.deps.events.record(reconcile.tcp, 'Warning', 'MigrationFailed', message);
    return { condition: failedCondition(message, retryInMs), requeueAfterMs: retryInMs };
  }

  /** The freeze lifted (the tenant serves the source) and the tenant deleted from the target. */
  private async rollBack(reconcile: TenantReconcile, record: MigrationRecord): Promise<void> {
    // Before the switch every API server serves the source: the freeze goes at once unless they cannot be reached.
    if (!(await thawTenant(await this.clients.connect(reconcile), replicasOf(reconcile), ROLLBACK_THAW_MS))) {
      throw new Error(`the freeze could not be lifted within ${ROLLBACK_THAW_MS / 1000} s`);
    }
    await deleteTenantData(this.deps, reconcile.tcp, record.target, identityOf(reconcile));
  }

  /**
   * Writes the migration record (null: removes it) now, not at the end of the pass: a crash right after must find
   * it. The version status and where the data is go in the same write when given.
   */
  private async writeRecord(
    reconcile: TenantReconcile,
    record: MigrationRecord | null,
    versionStatus?: 'Migrating' | null,
    location?: { dataStoreName: string; driver: string },
  ): Promise<void> {
    const tcp = reconcile.tcp;
    const migration = record && { ...record, lastUpdate: (this.deps.now?.() ?? new Date()).toISOString() };
    const status: Record<string, unknown> = { storage: { ...location, migration } };
    if (versionStatus) status.kubernetesResources = { version: { status: versionStatus } };
    reconcile.tcp = await patchStatus<TenantControlPlane>(
      this.deps.client,
      tenantControlPlaneResource,
      { namespace: tcp.metadata.namespace, name: tcp.metadata.name ?? '' },
      status,
    );
  }
}

export function replicasOf(reconcile: TenantReconcile): number {
  return reconcile.spec.controlPlane.deployment.replicas ?? 1;
}

export function identityOf(reconcile: TenantReconcile) {
  return { schema: reconcile.spec.dataStoreSchema, username: reconcile.spec.dataStoreUsername };
}

function failedCondition(message: string, retryInMs: number) {
  return {
    status: 'False',
    reason: 'MigrationFailed',
    message: `${message} (next attempt in ${Math.ceil(retryInMs / 1000)} s)`,
  } as const;
}
