import pg from 'pg';
import type { DatastoreDriver, DeletedTenant, Ownership, TenantOwner, TenantStorage } from '../driver.ts';
import { administratorName, primaryEndpoint } from '../sql/connection.ts';
import {
  decideClaim,
  isMine,
  notOwnedFields,
  OWNERS_DATABASE,
  requirePassword,
  reservedName,
} from '../sql/identity.ts';
import { alreadyExists, databaseOwner, roleState, terminateSessions } from './catalog.ts';
import { clientConfig, POSTGRESQL_PORT, type PostgresConnection, withClient } from './connection.ts';
import { claimInTransaction, OWNERS_TABLE, readRecords, releaseRecord } from './ownership.ts';
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
  /** Names no tenant may have: PostgreSQL's own, the owners database and the user this DataStore connects as. */
  private readonly reserved: { databases: ReadonlySet<string>; users: ReadonlySet<string>; userPrefixes: string[] };
  private owners: Promise<pg.Pool> | undefined;

  constructor(administrator: PostgresConnection) {
    this.connection = administrator;
    const { host, port } = primaryEndpoint(administrator, POSTGRESQL_PORT);
    this.endpoint = `${host}:${port}`;
    this.reserved = {
      databases: RESERVED_DATABASES,
      users: new Set(['postgres', administratorName(administrator)]),
      userPrefixes: ['pg_'],
    };
  }

  async check(): Promise<void> {
    try {
      await withClient(this.connection, MAINTENANCE_DATABASE, (client) => client.query('SELECT 1'));
    } catch (error) {
      throw new Error(`PostgreSQL at ${this.endpoint} is unreachable: ${(error as Error).message}`);
    }
  }

  async ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership> {
    const names = { database: storage.schema, user: storage.username };
    const reserved = reservedName(names, this.reserved, 'PostgreSQL');
    if (reserved) return reserved;
    const password = requirePassword(storage.password, storage.username, 'PostgreSQL');
    const pool = await this.ownersPool();
    const refusal = await claimInTransaction(pool, names, owner, async (records, client) => {
      const role = await roleState(client, names.user);
      return decideClaim(records, owner, {
        databaseExists: (await databaseOwner(client, names.database)) !== undefined,
        userExists: role !== undefined,
        ...(role && role.memberOf.length > 0
          ? { userExtended: `role ${names.user} is a member of ${role.memberOf.join(', ')}; revoke that membership` }
          : {}),
      });
    });
    if (refusal) return refusal;
    await this.grant(pool, names.database, names.user, password);
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
    const records = await readRecords(pool, { database: storage.schema, user: storage.username });
    const notOwned = notOwnedFields(records, owner);
    // Refuse new logins and end the role's sessions first: a tenant API server still running writes no more.
    const roleExists = isMine(records.user, owner) && (await roleState(pool, storage.username)) !== undefined;
    if (roleExists) {
      await pool.query(disableLogin(storage.username));
      await terminateSessions(pool, storage.username);
    }
    if (isMine(records.database, owner)) {
      await pool.query(dropDatabase(storage.schema));
      await releaseRecord(pool, records.database, owner);
    }
    if (isMine(records.user, owner)) {
      await pool.query(dropRole(storage.username));
      await releaseRecord(pool, records.user, owner);
    }
    // The database goes as a whole; its rows are not counted.
    return { deletedKeys: 0, notOwned };
  }

  close(): void {
    const owners = this.owners;
    this.owners = undefined;
    void owners?.then((pool) => pool.end()).catch(() => undefined);
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
