import mysql from 'mysql2/promise';
import type { DatastoreDriver } from '../driver.ts';
import { administratorName, primaryEndpoint } from '../sql/connection.ts';
import { type Query, type SqlBackend, SqlDriver } from '../sql/driver.ts';
import { type FoundIdentities, OWNERS_DATABASE, type TenantNames } from '../sql/identity.ts';
import { OpenOnce } from '../sql/open-once.ts';
import { connectionOptions, MYSQL_PORT, type MysqlConnection, withConnection } from './connection.ts';
import {
  alterUser,
  createDatabase,
  createUser,
  dropDatabase,
  dropUser,
  grantDatabase,
  isTenantGrant,
  lockUser,
  OWNERS_TABLE,
  showGrants,
} from './statements.ts';

/** Databases no tenant may be: the server's own and the one holding the owner records. */
const RESERVED_DATABASES: ReadonlySet<string> = new Set([
  'mysql',
  'information_schema',
  'performance_schema',
  'sys',
  OWNERS_DATABASE,
]);

/** Users the server keeps for itself (MariaDB's and MySQL's), whatever the DataStore's own user is. */
const RESERVED_USERS = [
  'root',
  'mysql',
  'mariadb.sys',
  'mysql.sys',
  'mysql.session',
  'mysql.infoschema',
  'PUBLIC',
  'public',
];

/** Serialises claims on one DataStore (several operators, or a reconcile racing a deletion). */
const CLAIM_LOCK = 'kamaji.clastix.io/owners';
const CLAIM_LOCK_TIMEOUT_S = 10;

/**
 * A shared MySQL or MariaDB where each tenant is a database and a user `'<name>'@'%'` (TLS required) holding all
 * privileges on that database and nothing else (docs/datastore-sql.md). The DataStore's user needs every
 * privilege with GRANT OPTION: it creates users, grants, and ends sessions.
 */
export function mysqlDriver(administrator: MysqlConnection): DatastoreDriver {
  return new SqlDriver(new MysqlBackend(administrator));
}

class MysqlBackend implements SqlBackend {
  readonly product = 'MySQL';
  readonly endpoint: string;
  readonly reserved: SqlBackend['reserved'];
  private readonly connection: MysqlConnection;
  private readonly owners: OpenOnce<mysql.Pool>;

  constructor(administrator: MysqlConnection) {
    this.connection = administrator;
    this.owners = new OpenOnce(
      () => this.openOwners(),
      (pool) => pool.end(),
    );
    const { host, port } = primaryEndpoint(administrator, MYSQL_PORT);
    this.endpoint = `${host}:${port}`;
    this.reserved = {
      databases: RESERVED_DATABASES,
      users: new Set([...RESERVED_USERS, administratorName(administrator)]),
    };
  }

  placeholder(): string {
    return '?';
  }

  async ping(): Promise<void> {
    await withConnection(this.connection, undefined, (client) => client.query('SELECT 1'));
  }

  query: Query = async (sql, params) => queryOn(await this.owners.get())(sql, params);

  async inClaimTransaction<T>(work: (query: Query) => Promise<{ commit: boolean; result: T }>): Promise<T> {
    const client = await (await this.owners.get()).getConnection();
    const query = queryOn(client);
    try {
      const [locked] = await query('SELECT GET_LOCK(?, ?) AS locked', [CLAIM_LOCK, CLAIM_LOCK_TIMEOUT_S]);
      if (locked?.locked !== 1) throw new Error(`the owners lock stayed taken for ${CLAIM_LOCK_TIMEOUT_S}s`);
      try {
        await client.beginTransaction();
        const { commit, result } = await work(query);
        await (commit ? client.commit() : client.rollback());
        return result;
      } catch (error) {
        await client.rollback().catch(() => undefined);
        throw error;
      } finally {
        await query('SELECT RELEASE_LOCK(?)', [CLAIM_LOCK]);
      }
    } finally {
      client.release();
    }
  }

  async found(query: Query, names: TenantNames): Promise<FoundIdentities> {
    const hosts = await userHosts(query, names.user);
    const extra = hosts.includes('%') ? await foreignGrants(query, names) : [];
    const databases = await query('SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [names.database]);
    return {
      databaseExists: databases.length > 0,
      userExists: hosts.length > 0,
      ...(extra.length > 0
        ? { userExtended: `user ${names.user} holds more than its database: ${extra.join('; ')}` }
        : {}),
    };
  }

  /** The password, the TLS requirement and the lock are set on every pass; the grant is given again. */
  async grant(names: TenantNames, password: string): Promise<void> {
    await this.query(createUser(names.user, password)).catch(async (error: unknown) => {
      if ((error as { code?: string }).code !== 'ER_CANNOT_USER') throw error;
      await this.query(alterUser(names.user, password));
    });
    await this.query(createDatabase(names.database));
    await this.query(grantDatabase(names.database, names.user));
  }

  async endLogins(user: string): Promise<void> {
    if (!(await userHosts(this.query, user)).includes('%')) return;
    await this.query(lockUser(user));
    const sessions = await this.query('SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?', [user]);
    for (const session of sessions) {
      // A session that ended meanwhile is fine.
      await this.query(`KILL CONNECTION ${Number(session.id)}`).catch(() => undefined);
    }
  }

  async dropDatabase(database: string): Promise<void> {
    await this.query(dropDatabase(database));
  }

  async dropUser(user: string): Promise<void> {
    await this.query(dropUser(user));
  }

  close(): void {
    this.owners.close();
  }

  /** The pool to the owners database, created with its table on first use. */
  private async openOwners(): Promise<mysql.Pool> {
    await withConnection(this.connection, undefined, (client) => client.query(createDatabase(OWNERS_DATABASE)));
    const pool = mysql.createPool({ ...connectionOptions(this.connection, OWNERS_DATABASE), connectionLimit: 4 });
    try {
      await pool.query(OWNERS_TABLE);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw error;
    }
    return pool;
  }
}

/** mysql2's query on a pool or one connection, as the SQL driver calls it. */
function queryOn(client: mysql.Pool | mysql.PoolConnection): Query {
  return async (sql, params) => {
    const [rows] = await client.query<mysql.RowDataPacket[]>(sql, params ? [...params] : []);
    return rows;
  };
}

/** The hosts a user name has accounts for (none when it does not exist). */
async function userHosts(query: Query, user: string): Promise<string[]> {
  const rows = await query('SELECT Host AS host FROM mysql.user WHERE User = ?', [user]);
  return rows.map((row) => String(row.host));
}

/** The grants of the tenant's account that are not its own (src/datastore/mysql/statements.ts). */
async function foreignGrants(query: Query, names: TenantNames): Promise<string[]> {
  const rows = await query(showGrants(names.user));
  return rows
    .map((row) => String(Object.values(row)[0]))
    .filter((line) => !isTenantGrant(line, names.database, names.user));
}
