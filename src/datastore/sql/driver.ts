import type { DatastoreDriver, DeletedTenant, Ownership, TenantOwner, TenantStorage } from '../driver.ts';
import {
  decideClaim,
  type FoundIdentities,
  type IdentityRecord,
  identitiesFrom,
  isMine,
  notOwnedFields,
  type OwnerRow,
  requirePassword,
  reservedName,
  type TenantIdentities,
  type TenantNames,
} from './identity.ts';

/** One statement with its parameters, returning its rows. */
export type Query = (sql: string, params?: readonly unknown[]) => Promise<Record<string, unknown>[]>;

/**
 * What a SQL server (PostgreSQL, MySQL) does its own way; the rules that make tenants safe are the driver's, the
 * same for both. `query` runs on the owners database, outside any transaction.
 */
export interface SqlBackend {
  /** For messages: `PostgreSQL`, `MySQL`. */
  readonly product: string;
  /** `host:port` of the server used. */
  readonly endpoint: string;
  readonly reserved: { databases: ReadonlySet<string>; users: ReadonlySet<string>; userPrefixes?: readonly string[] };
  /** The n-th (from 1) parameter's placeholder: `$n` or `?`. */
  placeholder(index: number): string;
  /** Connects and asks something trivial; throws what the server or network said. */
  ping(): Promise<void>;
  query: Query;
  /**
   * Runs `work` in a transaction that holds the DataStore's claim lock (serialising every operator's claims),
   * committing when it says so and rolling back otherwise.
   */
  inClaimTransaction<T>(work: (query: Query) => Promise<{ commit: boolean; result: T }>): Promise<T>;
  /** What the server holds under the tenant's names. */
  found(query: Query, names: TenantNames): Promise<FoundIdentities>;
  /** Creates what is missing and repairs what was changed: the user, its password, the database, the grant. */
  grant(names: TenantNames, password: string): Promise<void>;
  /** Refuses the user's logins and ends its sessions, when the user exists. */
  endLogins(user: string): Promise<void>;
  dropDatabase(database: string): Promise<void>;
  dropUser(user: string): Promise<void>;
  close(): void;
}

/**
 * A shared SQL server where each tenant is a database and a user that alone may use it, both recorded as the
 * tenant's (by UID) in the owners table before anything is created or granted.
 */
export class SqlDriver implements DatastoreDriver {
  private readonly backend: SqlBackend;

  constructor(backend: SqlBackend) {
    this.backend = backend;
  }

  async check(): Promise<void> {
    try {
      await this.backend.ping();
    } catch (error) {
      throw new Error(
        `${this.backend.product} at ${this.backend.endpoint} is unreachable: ${(error as Error).message}`,
      );
    }
  }

  async ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership> {
    const names = { database: storage.schema, user: storage.username };
    const reserved = reservedName(names, this.backend.reserved, this.backend.product);
    if (reserved) return reserved;
    const password = requirePassword(storage.password, storage.username, this.backend.product);
    // The records are committed before anything is created: a crash leaves a claim its owner completes next time.
    const refusal = await this.backend.inClaimTransaction(async (query) => {
      const records = await this.readRecords(query, names);
      const decision = decideClaim(records, owner, await this.backend.found(query, names));
      if (!Array.isArray(decision)) return { commit: false, result: decision };
      for (const record of decision) await this.writeRecord(query, record, owner);
      return { commit: true, result: undefined };
    });
    if (refusal) return refusal;
    await this.backend.grant(names, password);
    return undefined;
  }

  async deleteTenant(storage: TenantStorage, owner: TenantOwner): Promise<DeletedTenant> {
    const names = { database: storage.schema, user: storage.username };
    const query = this.backend.query;
    const records = await this.readRecords(query, names);
    // Logins refused and sessions ended first: a tenant API server still running writes nothing more.
    if (isMine(records.user, owner)) await this.backend.endLogins(names.user);
    if (isMine(records.database, owner)) {
      await this.backend.dropDatabase(names.database);
      await this.releaseRecord(query, records.database, owner);
    }
    if (isMine(records.user, owner)) {
      await this.backend.dropUser(names.user);
      await this.releaseRecord(query, records.user, owner);
    }
    // The database goes as a whole; its rows are not counted.
    return { deletedKeys: 0, notOwned: notOwnedFields(records, owner) };
  }

  close(): void {
    this.backend.close();
  }

  private async readRecords(query: Query, names: TenantNames): Promise<TenantIdentities> {
    const [database, user] = [this.backend.placeholder(1), this.backend.placeholder(2)];
    const rows = await query(
      `SELECT kind, name, uid, namespace, tenant FROM owners
        WHERE (kind = 'database' AND name = ${database}) OR (kind = 'user' AND name = ${user})`,
      [names.database, names.user],
    );
    return identitiesFrom(rows as unknown as OwnerRow[], names);
  }

  private async writeRecord(query: Query, record: IdentityRecord, owner: TenantOwner): Promise<void> {
    const values = [1, 2, 3, 4, 5].map((index) => this.backend.placeholder(index)).join(', ');
    await query(`INSERT INTO owners (kind, name, uid, namespace, tenant) VALUES (${values})`, [
      record.kind,
      record.name,
      owner.uid,
      owner.namespace,
      owner.name,
    ]);
  }

  /** Deletes an owner record only while it still names `owner`. */
  private async releaseRecord(query: Query, record: IdentityRecord, owner: TenantOwner): Promise<void> {
    const [kind, name, uid] = [1, 2, 3].map((index) => this.backend.placeholder(index));
    await query(`DELETE FROM owners WHERE kind = ${kind} AND name = ${name} AND uid = ${uid}`, [
      record.kind,
      record.name,
      owner.uid,
    ]);
  }
}
