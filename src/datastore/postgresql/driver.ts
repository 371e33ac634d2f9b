import pg from 'pg';
import type { DatastoreDriver } from '../driver.ts';
import { administratorName, primaryEndpoint } from '../sql/connection.ts';
import { type Query, type SqlBackend, SqlDriver } from '../sql/driver.ts';
import { type FoundIdentities, OWNERS_DATABASE, type TenantNames } from '../sql/identity.ts';
import { OpenOnce } from '../sql/open-once.ts';
import { alreadyExists, databaseOwner, roleState, terminateSessions } from './catalog.ts';
import { clientConfig, POSTGRESQL_PORT, type PostgresConnection, withClient } from './connection.ts';
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
  OWNERS_TABLE,
  setDatabaseOwner,
} from './statements.ts';

/** The database every PostgreSQL server has, where the owners database is created from. */
const MAINTENANCE_DATABASE = 'postgres';

/** Databases no tenant may be: PostgreSQL's own and the one holding the owner records. */
const RESERVED_DATABASES: ReadonlySet<string> = new Set(['postgres', 'template0', 'template1', OWNERS_DATABASE]);

/** Serialises claims on one DataStore (several operators, or a reconcile racing a deletion). */
const CLAIM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kamaji.clastix.io/owners'))";

/**
 * A shared PostgreSQL where each tenant is a database owned by a login role of its own, which alone may connect to
 * it (docs/datastore-sql.md). The DataStore's user must be a superuser: it reads pg_authid, creates databases owned
 * by other roles and ends their sessions.
 */
export function postgresDriver(administrator: PostgresConnection): DatastoreDriver {
  return new SqlDriver(new PostgresBackend(administrator));
}

class PostgresBackend implements SqlBackend {
  readonly product = 'PostgreSQL';
  readonly endpoint: string;
  readonly reserved: SqlBackend['reserved'];
  private readonly connection: PostgresConnection;
  private readonly owners: OpenOnce<pg.Pool>;

  constructor(administrator: PostgresConnection) {
    this.connection = administrator;
    this.owners = new OpenOnce(
      () => this.openOwners(),
      (pool) => pool.end(),
    );
    const { host, port } = primaryEndpoint(administrator, POSTGRESQL_PORT);
    this.endpoint = `${host}:${port}`;
    this.reserved = {
      databases: RESERVED_DATABASES,
      users: new Set(['postgres', administratorName(administrator)]),
      userPrefixes: ['pg_'],
    };
  }

  placeholder(index: number): string {
    return `$${index}`;
  }

  async ping(): Promise<void> {
    await withClient(this.connection, MAINTENANCE_DATABASE, (client) => client.query('SELECT 1'));
  }

  query: Query = async (sql, params) => queryOn(await this.owners.get())(sql, params);

  async inClaimTransaction<T>(work: (query: Query) => Promise<{ commit: boolean; result: T }>): Promise<T> {
    const client = await (await this.owners.get()).connect();
    try {
      await client.query('BEGIN');
      await client.query(CLAIM_LOCK);
      const { commit, result } = await work(queryOn(client));
      await client.query(commit ? 'COMMIT' : 'ROLLBACK');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async found(query: Query, names: TenantNames): Promise<FoundIdentities> {
    const role = await roleState(query, names.user);
    return {
      databaseExists: (await databaseOwner(query, names.database)) !== undefined,
      userExists: role !== undefined,
      ...(role && role.memberOf.length > 0
        ? { userExtended: `role ${names.user} is a member of ${role.memberOf.join(', ')}; revoke that membership` }
        : {}),
    };
  }

  /** Attributes, password (only when it differs from the stored verifier), database owner and grants. */
  async grant(names: TenantNames, password: string): Promise<void> {
    const { database, user } = names;
    const existing = await roleState(this.query, user);
    if (!existing) {
      await this.query(createRole(user, scramVerifier(password))).catch(async (error: unknown) => {
        if (!alreadyExists(error)) throw error;
        await this.query(alterRole(user, scramVerifier(password)));
      });
    } else {
      const samePassword = verifierMatches(existing.password, password);
      await this.query(alterRole(user, samePassword ? undefined : scramVerifier(password)));
    }
    const currentOwner = await databaseOwner(this.query, database);
    if (currentOwner === undefined) {
      await this.query(createDatabase(database, user)).catch((error: unknown) => {
        if (!alreadyExists(error)) throw error;
      });
    }
    if (currentOwner !== user) await this.query(setDatabaseOwner(database, user));
    for (const statement of databaseGrants(database, user)) await this.query(statement);
  }

  async endLogins(user: string): Promise<void> {
    if ((await roleState(this.query, user)) === undefined) return;
    await this.query(disableLogin(user));
    await terminateSessions(this.query, user);
  }

  async dropDatabase(database: string): Promise<void> {
    await this.query(dropDatabase(database));
  }

  async dropUser(user: string): Promise<void> {
    await this.query(dropRole(user));
  }

  close(): void {
    this.owners.close();
  }

  /** The pool to the owners database, created with its table on first use. */
  private async openOwners(): Promise<pg.Pool> {
    await withClient(this.connection, MAINTENANCE_DATABASE, async (client) => {
      if ((await databaseOwner(queryOn(client), OWNERS_DATABASE)) === undefined) {
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

/** `pg`'s query on a pool or one connection, as the SQL driver calls it. */
function queryOn(client: pg.Pool | pg.ClientBase): Query {
  return async (sql, params) => (await client.query(sql, params ? [...params] : [])).rows;
}
