import mysql from 'mysql2/promise';
import type { DatastoreDriver, DeletedTenant, Ownership, TenantOwner, TenantStorage } from '../driver.ts';
import { administratorName, primaryEndpoint } from '../sql/connection.ts';
import {
  decideClaim,
  isMine,
  notOwnedFields,
  OWNERS_DATABASE,
  requirePassword,
  reservedName,
  type TenantNames,
} from '../sql/identity.ts';
import { connectionOptions, MYSQL_PORT, type MysqlConnection, withConnection } from './connection.ts';
import { claimInTransaction, type Queryable, readRecords, releaseRecord } from './ownership.ts';
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

/**
 * A shared MySQL or MariaDB where each tenant is a database and a user `'<name>'@'%'` (TLS required) holding all
 * privileges on that database and nothing else, both recorded as the tenant's (by UID) before anything is created.
 * The DataStore's user needs every privilege with GRANT OPTION (it creates users, grants, and ends sessions).
 */
export class MysqlDriver implements DatastoreDriver {
  private readonly connection: MysqlConnection;
  private readonly endpoint: string;
  private readonly reserved: { databases: ReadonlySet<string>; users: ReadonlySet<string> };
  private owners: Promise<mysql.Pool> | undefined;

  constructor(administrator: MysqlConnection) {
    this.connection = administrator;
    const { host, port } = primaryEndpoint(administrator, MYSQL_PORT);
    this.endpoint = `${host}:${port}`;
    this.reserved = {
      databases: RESERVED_DATABASES,
      users: new Set([...RESERVED_USERS, administratorName(administrator)]),
    };
  }

  async check(): Promise<void> {
    try {
      await withConnection(this.connection, undefined, (client) => client.query('SELECT 1'));
    } catch (error) {
      throw new Error(`MySQL at ${this.endpoint} is unreachable: ${(error as Error).message}`);
    }
  }

  async ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership> {
    const names = { database: storage.schema, user: storage.username };
    const reserved = reservedName(names, this.reserved, 'MySQL');
    if (reserved) return reserved;
    const password = requirePassword(storage.password, storage.username, 'MySQL');
    const pool = await this.ownersPool();
    const refusal = await claimInTransaction(pool, names, owner, async (records, client) => {
      const hosts = await userHosts(client, names.user);
      const extra = hosts.includes('%') ? await foreignGrants(client, names) : [];
      return decideClaim(records, owner, {
        databaseExists: await databaseExists(client, names.database),
        userExists: hosts.length > 0,
        ...(extra.length > 0
          ? { userExtended: `user ${names.user} holds more than its database: ${extra.join('; ')}` }
          : {}),
      });
    });
    if (refusal) return refusal;
    // Creates what is missing and puts back what was changed: password, TLS requirement, lock, the grant.
    await pool.query(createUser(names.user, password)).catch(async (error: unknown) => {
      if ((error as { code?: string }).code !== 'ER_CANNOT_USER') throw error;
      await pool.query(alterUser(names.user, password));
    });
    await pool.query(createDatabase(names.database));
    await pool.query(grantDatabase(names.database, names.user));
    return undefined;
  }

  async deleteTenant(storage: TenantStorage, owner: TenantOwner): Promise<DeletedTenant> {
    const pool = await this.ownersPool();
    const names = { database: storage.schema, user: storage.username };
    const records = await readRecords(pool, names);
    const notOwned = notOwnedFields(records, owner);
    // Lock the account and end its sessions first: a tenant API server still running writes nothing more.
    if (isMine(records.user, owner) && (await userHosts(pool, names.user)).includes('%')) {
      await pool.query(lockUser(names.user));
      await endSessions(pool, names.user);
    }
    if (isMine(records.database, owner)) {
      await pool.query(dropDatabase(names.database));
      await releaseRecord(pool, records.database, owner);
    }
    if (isMine(records.user, owner)) {
      await pool.query(dropUser(names.user));
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

  /** The pool to the owners database, which is created with its table on first use. */
  private ownersPool(): Promise<mysql.Pool> {
    this.owners ??= this.openOwners().catch((error: unknown) => {
      this.owners = undefined;
      throw error;
    });
    return this.owners;
  }

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

/** The hosts a user name has accounts for (none when it does not exist). */
async function userHosts(client: Queryable, user: string): Promise<string[]> {
  const [rows] = await client.query<mysql.RowDataPacket[]>('SELECT Host AS host FROM mysql.user WHERE User = ?', [
    user,
  ]);
  return rows.map((row) => String(row.host));
}

async function databaseExists(client: Queryable, database: string): Promise<boolean> {
  const [rows] = await client.query<mysql.RowDataPacket[]>(
    'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?',
    [database],
  );
  return rows.length > 0;
}

/** The grants of the tenant's account that are not its own (src/datastore/mysql/statements.ts). */
async function foreignGrants(client: Queryable, names: TenantNames): Promise<string[]> {
  const [rows] = await client.query<mysql.RowDataPacket[]>(showGrants(names.user));
  return rows
    .map((row) => String(Object.values(row)[0]))
    .filter((line) => !isTenantGrant(line, names.database, names.user));
}

async function endSessions(client: Queryable, user: string): Promise<void> {
  const [rows] = await client.query<mysql.RowDataPacket[]>(
    'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ?',
    [user],
  );
  for (const row of rows) {
    await client.query(`KILL CONNECTION ${Number(row.id)}`).catch(() => undefined);
  }
}
