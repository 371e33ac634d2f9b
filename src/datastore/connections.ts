import { createHash } from 'node:crypto';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import type { CertificateAndKey } from '../pki/certificates.ts';
import type { DatastoreDriver } from './driver.ts';
import type { EtcdConnection } from './etcd/connection.ts';
import { EtcdDriver } from './etcd/driver.ts';
import { type DatastoreObserver, instrumentDriver } from './instrumented.ts';
import { mysqlDriver } from './mysql/driver.ts';
import { postgresDriver } from './postgresql/driver.ts';
import { DataStoreConfigError, resolveEtcdDataStore, type SecretReader } from './resolve.ts';
import type { SqlConnection } from './sql/connection.ts';
import { resolveSqlDataStore, SQL_DRIVERS, type SqlDriverName } from './sql/resolve.ts';

interface OpenConnection {
  driver: DatastoreDriver;
  /** When a check last succeeded (ms since the epoch). */
  checkedAt?: number;
  /** host:port endpoints, as the tenant's pod reaches them (its API server for etcd, kine for SQL). */
  endpoints: readonly string[];
  /** The DataStore's settings as resolved, for opening a tenant's key space (migration, backup). */
  resolved: ResolvedDataStore;
}

/** What the tenant pipeline needs of a DataStore, by driver. */
export type DataStoreConnection =
  | (OpenConnection & {
      kind: 'etcd';
      /** Signs tenant client certificates (etcd authenticates tenants by certificate). */
      ca: CertificateAndKey;
    })
  | (OpenConnection & {
      kind: SqlDriverName;
      /** The CA that signed the server's certificate: kine verifies the server with it. Tenants use passwords. */
      caCertificatePem: string;
    });

const CHECK_TRUST_MS = 5_000;

/** A replaced connection stays open this long, so that calls already under way on it can finish. */
const RETIRE_AFTER_MS = 30_000;

/**
 * One open connection per DataStore, shared by every tenant on it, and rebuilt when the DataStore's spec changes
 * (its generation: status writes such as usedBy do not count) so that new endpoints or credentials take effect
 * without a restart.
 */
export class DataStoreConnections {
  private readonly readSecret: SecretReader;
  private readonly observe: DatastoreObserver | undefined;
  private readonly open = new Map<string, { version: string; connection: Promise<DataStoreConnection> }>();

  /** `observe` is told about every driver operation (metrics). */
  constructor(readSecret: SecretReader, observe?: DatastoreObserver) {
    this.readSecret = readSecret;
    this.observe = observe;
  }

  connectionFor(dataStore: DataStore): Promise<DataStoreConnection> {
    const name = dataStore.metadata.name ?? '';
    const version = String(dataStore.metadata.generation ?? '');
    const cached = this.open.get(name);
    if (cached?.version === version) return cached.connection;
    if (cached) this.retire(name);
    const connection = this.connect(name, dataStore);
    this.open.set(name, { version, connection });
    // A failed resolution is not cached: the next reconcile tries again (e.g. once the Secret exists).
    connection.catch(() => {
      if (this.open.get(name)?.connection === connection) this.open.delete(name);
    });
    return connection;
  }

  private async connect(name: string, dataStore: DataStore): Promise<DataStoreConnection> {
    const { spec } = dataStore;
    const instrumented = (driver: DatastoreDriver) =>
      this.observe ? instrumentDriver(driver, spec.driver, this.observe) : driver;
    const resolved = await resolveDataStore(name, spec, this.readSecret);
    if (resolved.kind === 'etcd') {
      return {
        kind: 'etcd',
        driver: instrumented(new EtcdDriver(resolved.root)),
        ca: resolved.ca,
        endpoints: spec.endpoints,
        resolved,
      };
    }
    const { kind, connection } = resolved;
    const driver = kind === 'PostgreSQL' ? postgresDriver(connection) : mysqlDriver(connection);
    return {
      kind,
      driver: instrumented(driver),
      caCertificatePem: connection.caCertificatePem,
      endpoints: spec.endpoints,
      resolved,
    };
  }

  /**
   * Reads the DataStore's Secrets again and, when what they resolve to changed (a rotated password or certificate),
   * drops the open connection so that the next use opens one with the new settings. A DataStore's generation does
   * not change when only its Secrets do, so the DataStore controller calls this on each of its periodic checks.
   */
  async refresh(dataStore: DataStore): Promise<boolean> {
    const name = dataStore.metadata.name ?? '';
    const cached = this.open.get(name);
    const current = await cached?.connection.catch(() => undefined);
    if (!current) return false;
    const now = await resolveDataStore(name, dataStore.spec, this.readSecret);
    if (fingerprint(now) === fingerprint(current.resolved)) return false;
    this.retire(name);
    return true;
  }

  /**
   * Fails when the datastore is unreachable. A success is trusted for a few seconds, so that a burst of
   * reconciles on one DataStore costs one round trip, not one each.
   */
  async check(connection: DataStoreConnection): Promise<void> {
    if (connection.checkedAt !== undefined && Date.now() - connection.checkedAt < CHECK_TRUST_MS) return;
    await connection.driver.check();
    connection.checkedAt = Date.now();
  }

  /** Drops the DataStore's connection, closing it once calls already under way have had time to finish. */
  retire(name: string): void {
    const cached = this.open.get(name);
    this.open.delete(name);
    setTimeout(() => close(cached?.connection), RETIRE_AFTER_MS).unref();
  }

  /** Closes every connection now (shutdown). */
  closeAll(): void {
    for (const { connection } of this.open.values()) close(connection);
    this.open.clear();
  }
}

function fingerprint(resolved: ResolvedDataStore): string {
  return createHash('sha256').update(JSON.stringify(resolved)).digest('hex');
}

function close(connection: Promise<DataStoreConnection> | undefined): void {
  void connection?.then((open) => open.driver.close()).catch(() => undefined);
}

export type ResolvedDataStore =
  | { kind: 'etcd'; root: EtcdConnection; ca: CertificateAndKey }
  | { kind: SqlDriverName; connection: SqlConnection };

/**
 * A DataStore's connection settings, resolved as its driver needs them (its Secrets read); a DataStoreConfigError
 * names the field at fault. The admission webhook resolves through here too, so it refuses exactly what the
 * operator could not use.
 */
export async function resolveDataStore(
  name: string,
  spec: DataStore['spec'],
  readSecret: SecretReader,
): Promise<ResolvedDataStore> {
  if (spec.driver === 'etcd') return { kind: 'etcd', ...(await resolveEtcdDataStore(name, spec, readSecret)) };
  if (!SQL_DRIVERS.some((driver) => driver === spec.driver)) {
    throw new DataStoreConfigError(
      name,
      'spec.driver',
      `${spec.driver} is not supported yet (supported: etcd, ${SQL_DRIVERS.join(', ')}): use one of those`,
    );
  }
  const { driver, connection } = await resolveSqlDataStore(name, spec, readSecret);
  return { kind: driver, connection };
}
