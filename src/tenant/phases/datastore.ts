import type { DataStore } from '../../api/v1alpha1/datastore.ts';
import { describeProblems, validateDataStoreSpec } from '../../api/v1alpha1/validation.ts';
import { readSecretData } from '../../controller/secret-data.ts';
import type { DataStoreConnection } from '../../datastore/connections.ts';
import type { OwnershipRefusal } from '../../datastore/driver.ts';
import { DataStoreConfigError } from '../../datastore/resolve.ts';
import { keepOrGeneratePassword } from '../../datastore/sql/password.ts';
import { objectNames } from '../names.ts';
import { Blocked, type Phase, type PipelineDependencies, RETRY_SOON_MS, type TenantReconcile } from './phase.ts';

/** A grant verified this recently is trusted (a burst of reconciles costs one check); older ones are checked again. */
const GRANT_TRUST_MS = 10_000;

/**
 * The tenant's place in its DataStore: the DataStore reachable, the schema and user recorded as this tenant's
 * (refused when they are another's or the backend's), and the user granted exactly its own key space. Runs every
 * pass, so `DataStoreReady` reports a grant checked now, not remembered. No credential is issued before it passed.
 */
export class DataStorePhase implements Phase {
  readonly name = 'datastore';
  readonly condition = 'DataStoreReady' as const;
  private readonly deps: PipelineDependencies;
  /** Tenant → the identity last verified in the datastore, when, and the SQL password set there. */
  private readonly verified = new Map<string, { identity: string; at: number; password?: string }>();

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  forget(key: string): void {
    this.verified.delete(key);
  }

  async run(reconcile: TenantReconcile) {
    const { dataStore: name, dataStoreSchema: schema, dataStoreUsername: username } = reconcile.spec;
    const { dataStore, connection } = await reachableDataStore(this.deps, name);
    reconcile.observe({ storage: { driver: dataStore.spec.driver } });
    const owner = { uid: reconcile.tcp.metadata.uid ?? '', namespace: reconcile.namespace, name: reconcile.name };
    // SQL: the password in the Secret, read on every pass so that a deleted or corrupted one is replaced (and set on
    // the server) at once, and a changed one set on the server.
    const password = connection.kind === 'etcd' ? undefined : await storedPassword(this.deps, reconcile);
    const identity = JSON.stringify([name, dataStore.metadata.generation, schema, username, owner.uid]);
    const last = this.verified.get(reconcile.key);
    const now = Date.now();
    // The reconcile our own writes trigger a moment later need not ask the datastore again.
    if (last?.identity !== identity || last.password !== password || now - last.at > GRANT_TRUST_MS) {
      this.verified.delete(reconcile.key);
      const refusal = await connection.driver.ensureTenant({ schema, username, password }, owner);
      if (refusal) {
        throw new Blocked(
          { status: 'False', reason: refusal.reason, message: refusalMessage(refusal, name) },
          undefined,
        );
      }
      this.verified.set(reconcile.key, { identity, at: now, ...(password === undefined ? {} : { password }) });
    }
    reconcile.dataStore = connection;
    if (password !== undefined) reconcile.dataStorePassword = password;
    return {
      condition: {
        status: 'True',
        reason: 'Granted',
        message: `tenant user ${username} may use schema ${schema} on DataStore ${name}, and nothing else`,
      },
    } as const;
  }
}

/**
 * The DataStore `name`, valid, connected and reachable; Blocked with a condition naming it and the fix when it is
 * not (missing, misconfigured, unreachable).
 */
export async function reachableDataStore(
  deps: PipelineDependencies,
  name: string,
): Promise<{ dataStore: DataStore; connection: DataStoreConnection }> {
  const dataStore = deps.observed.dataStore(name);
  if (!dataStore) {
    throw new Blocked(
      {
        status: 'False',
        reason: 'DataStoreNotFound',
        message: dataStoreNotFoundMessage(name),
      },
      RETRY_SOON_MS,
    );
  }
  const problems = validateDataStoreSpec(dataStore.spec);
  if (problems.length > 0) {
    const detail = describeProblems(problems);
    throw new Blocked(
      { status: 'False', reason: 'DataStoreMisconfigured', message: `DataStore ${name}: ${detail}` },
      undefined,
    );
  }
  try {
    const connection = await deps.dataStores.connectionFor(dataStore);
    await deps.dataStores.check(connection);
    return { dataStore, connection };
  } catch (error) {
    const configError = error instanceof DataStoreConfigError;
    throw new Blocked(
      {
        status: 'False',
        reason: configError ? 'DataStoreMisconfigured' : 'DataStoreUnreachable',
        message: `DataStore ${name}: ${(error as Error).message}`,
      },
      RETRY_SOON_MS,
    );
  }
}

/**
 * The tenant's SQL password: the one in `<tcp>-datastore-config` while usable, else a new one (missing or
 * corrupted), which ensureTenant sets on the server and the secrets phase writes back.
 */
export async function storedPassword(deps: PipelineDependencies, reconcile: TenantReconcile): Promise<string> {
  const config = objectNames(reconcile.name).datastoreConfigSecret;
  return keepOrGeneratePassword((await readSecretData(deps.client, reconcile.namespace, config))?.DB_PASSWORD);
}

export function dataStoreNotFoundMessage(name: string): string {
  return `DataStore ${name} does not exist: create it or set spec.dataStore`;
}

/** What the user reads in the condition: the field, why, and what to do. */
export function refusalMessage(refusal: OwnershipRefusal, dataStore: string): string {
  const fix = `choose another ${refusal.field} (a new TCP; the field cannot change) or leave it unset to derive it from the TCP's UID`;
  switch (refusal.reason) {
    case 'OwnedByAnotherTenant':
      return `${refusal.field} is already used on DataStore ${dataStore} by TenantControlPlane ${refusal.owner.namespace}/${refusal.owner.name}: ${fix}`;
    case 'ReservedName':
      return `${refusal.field}: ${refusal.detail}: ${fix}`;
    case 'ExistsOutsideKamaji':
      return `${refusal.field}: ${refusal.detail} on DataStore ${dataStore}, so it is not taken over: ${fix}`;
  }
}
