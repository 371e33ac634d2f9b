import pg from 'pg';
import type {
  DatastoreDriver,
  DeletedTenant,
  IdentityField,
  Ownership,
  OwnershipRefusal,
  TenantOwner,
  TenantStorage,
} from '../driver.ts';
import { alreadyExists, databaseOwner, roleState, terminateSessions } from './catalog.ts';
import { administratorName, clientConfig, type PostgresConnection, primaryEndpoint, withClient } from './connection.ts';
import {
  claimInTransaction,
  foreignOwner,
  isMine,
  OWNERS_DATABASE,
  OWNERS_TABLE,
  readRecords,
  releaseRecord,
} from './ownership.ts';
import { scramVerifier, verifierMatches } from './scram.ts';
import {
  alterRole,
  closeDatabase,
  createDatabase,
  createOwnersDatabase,
  createRole,
  databaseGrants,
  disableLogin,
  dropDatabase,
  dropRole,
  setDatabaseOwner,
} from './statements.ts';

/** The database every PostgreSQL server has, where the owners database is created from. */
const MAINTENANCE_DATABASE = 'postgres';

/** Databases no tenant may be: PostgreSQL's own and the one holding the owner records. */
const RESERVED_DATABASES: ReadonlySet<string> = new Set(['postgres', 'template0', 'template1', OWNERS_DATABASE]);

/**
 * A shared PostgreSQL where each tenant is a database owned by a login role of its own, which alone may connect to
 * it, both recorded as the tenant's (by UID) before anything is created. The DataStore's user must be a superuser:
 * it reads pg_authid, creates databases owned by other roles and ends their sessions.
 */
export class PostgresDriver implements DatastoreDriver {
  private readonly connection: PostgresConnection;
  private readonly endpoint: string;
  /** Roles no tenant may be: PostgreSQL's bootstrap superuser and the user this DataStore connects as. */
  private readonly reservedRoles: ReadonlySet<string>;
  private owners: Promise<pg.Pool> | undefined;

  constructor(administrator: PostgresConnection) {
    this.connection = administrator;
    const { host, port } = primaryEndpoint(administrator);
    this.endpoint = `${host}:${port}`;
    this.reservedRoles = new Set(['postgres', administratorName(administrator)]);
  }

  async check(): Promise<void> {
    try {
      await withClient(this.connection, MAINTENANCE_DATABASE, (client) => client.query('SELECT 1'));
    } catch (error) {
      throw new Error(`PostgreSQL at ${this.endpoint} is unreachable: ${(error as Error).message}`);
    }
  }

  async ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership> {
    const reserved = this.reserved(storage);
    if (reserved) return reserved;
    const password = storage.password;
    if (!password) {
      throw new Error(`PostgreSQL DataStore ${this.endpoint}: user ${storage.username} needs a password; none given`);
    }
    const pool = await this.ownersPool();
    const names = { database: storage.schema, role: storage.username };
    const refusal = await claimInTransaction(pool, names, owner, async (records, client) => {
      const taken = foreignOwner(records.database, owner) ?? foreignOwner(records.role, owner);
      if (taken) return taken;
      const role = await roleState(client, storage.username);
      if (!records.database.owner && (await databaseOwner(client, storage.schema)) !== undefined) {
        return outside('spec.dataStoreSchema', `database ${storage.schema} exists and was not created by Kamaji`);
      }
      if (!records.role.owner && role) {
        return outside('spec.dataStoreUsername', `role ${storage.username} exists and was not created by Kamaji`);
      }
      // Never extend: a tenant role holds no other role's rights; someone who granted one must revoke it.
      if (role && role.memberOf.length > 0) {
        return outside(
          'spec.dataStoreUsername',
          `role ${storage.username} is a member of ${role.memberOf.join(', ')}; revoke that membership`,
        );
      }
      return [records.database, records.role].filter((record) => record.owner === undefined);
    });
    if (refusal) return refusal;
    await this.grant(pool, storage.schema, storage.username, password);
    return undefined;
  }

  /** Creates what is missing and puts back what was changed: attributes, password, database owner and grants. */
  private async grant(pool: pg.Pool, database: string, role: string, password: string): Promise<void> {
    const existing = await roleState(pool, role);
    if (!existing) {
      await pool.query(createRole(role, scramVerifier(password))).catch(async (error: unknown) => {
        if (!alreadyExists(error)) throw error;
        await pool.query(alterRole(role, scramVerifier(password)));
      });
    } else {
      const samePassword = verifierMatches(existing.password, password);
      await pool.query(alterRole(role, samePassword ? undefined : scramVerifier(password)));
    }
    const currentOwner = await databaseOwner(pool, database);
    if (currentOwner === undefined) {
      await pool.query(createDatabase(database, role)).catch((error: unknown) => {
        if (!alreadyExists(error)) throw error;
      });
    }
    if (currentOwner !== role) await pool.query(setDatabaseOwner(database, role));
    for (const statement of databaseGrants(database, role)) await pool.query(statement);
  }

  async deleteTenant(storage: TenantStorage, owner: TenantOwner): Promise<DeletedTenant> {
    const pool = await this.ownersPool();
    const records = await readRecords(pool, { database: storage.schema, role: storage.username });
    const notOwned = [records.role, records.database]
      .filter((record) => record.owner !== undefined && !isMine(record, owner))
      .map((record) => record.field);
    // Refuse new logins and end the role's sessions first: a tenant API server still running writes no more.
    const roleExists = isMine(records.role, owner) && (await roleState(pool, storage.username)) !== undefined;
    if (roleExists) {
      await pool.query(disableLogin(storage.username));
      await terminateSessions(pool, storage.username);
    }
    if (isMine(records.database, owner)) {
      await pool.query(dropDatabase(storage.schema));
      await releaseRecord(pool, records.database, owner);
    }
    if (isMine(records.role, owner)) {
      await pool.query(dropRole(storage.username));
      await releaseRecord(pool, records.role, owner);
    }
    // The database goes as a whole; its rows are not counted.
    return { deletedKeys: 0, notOwned };
  }

  close(): void {
    const owners = this.owners;
    this.owners = undefined;
    void owners?.then((pool) => pool.end()).catch(() => undefined);
  }

  private reserved(storage: TenantStorage): OwnershipRefusal | undefined {
    if (RESERVED_DATABASES.has(storage.schema)) {
      return {
        reason: 'ReservedName',
        field: 'spec.dataStoreSchema',
        detail: `database ${storage.schema} is reserved by this PostgreSQL DataStore`,
      };
    }
    if (this.reservedRoles.has(storage.username) || storage.username.startsWith('pg_')) {
      return {
        reason: 'ReservedName',
        field: 'spec.dataStoreUsername',
        detail: `role ${storage.username} is reserved by this PostgreSQL DataStore`,
      };
    }
    return undefined;
  }

  /** The pool to the owners database, which is created (closed to PUBLIC) with its table on first use. */
  private ownersPool(): Promise<pg.Pool> {
    this.owners ??= this.openOwners().catch((error: unknown) => {
      this.owners = undefined;
      throw error;
    });
    return this.owners;
  }

  private async openOwners(): Promise<pg.Pool> {
    await withClient(this.connection, MAINTENANCE_DATABASE, async (client) => {
      if ((await databaseOwner(client, OWNERS_DATABASE)) === undefined) {
        await client.query(createOwnersDatabase(OWNERS_DATABASE)).catch((error: unknown) => {
          if (!alreadyExists(error)) throw error;
        });
      }
      await client.query(closeDatabase(OWNERS_DATABASE));
    });
    const pool = new pg.Pool({ ...clientConfig(this.connection, OWNERS_DATABASE), max: 4, allowExitOnIdle: true });
    // An idle connection the server dropped is reported by the next query that needs one, not thrown here.
    pool.on('error', () => undefined);
    try {
      await pool.query(OWNERS_TABLE).catch((error: unknown) => {
        if (!alreadyExists(error)) throw error;
      });
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return pool;
  }
}

function outside(field: IdentityField, detail: string): OwnershipRefusal {
  return { reason: 'ExistsOutsideKamaji', field, detail };
}
