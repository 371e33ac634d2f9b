import type { ResolvedDataStore } from '../../src/datastore/connections.ts';
import { tenantKeyPrefix } from '../../src/datastore/etcd/access.ts';
import { connectEtcd } from '../../src/datastore/etcd/connection.ts';
import { withConnection } from '../../src/datastore/mysql/connection.ts';
import { withClient } from '../../src/datastore/postgresql/connection.ts';

/** What a DataStore holds of one tenant, read with the DataStore's own (administrator) credentials. */
export interface TenantTraces {
  /** etcd: keys under `/<schema>/`; SQL: databases named `<schema>`. */
  data: number;
  /** Users (etcd, MySQL accounts on any host) or roles (PostgreSQL) named `<user>`. */
  users: number;
}

export async function tenantTraces(dataStore: ResolvedDataStore, schema: string, user: string): Promise<TenantTraces> {
  if (dataStore.kind === 'etcd') {
    const client = connectEtcd(dataStore.root);
    try {
      const data = await client.getAll().prefix(tenantKeyPrefix(schema)).count();
      const users = (await client.auth.userList()).users ?? [];
      return { data, users: users.filter((name) => name === user).length };
    } finally {
      client.close();
    }
  }
  if (dataStore.kind === 'PostgreSQL') {
    return withClient(dataStore.connection, 'postgres', async (client) => {
      const count = async (sql: string, name: string) =>
        Number((await client.query<{ n: string }>(sql, [name])).rows[0]?.n ?? 0);
      return {
        data: await count('SELECT count(*) AS n FROM pg_database WHERE datname = $1', schema),
        users: await count('SELECT count(*) AS n FROM pg_roles WHERE rolname = $1', user),
      };
    });
  }
  return withConnection(dataStore.connection, undefined, async (client) => {
    const count = async (sql: string, name: string) => {
      const [rows] = await client.query(sql, [name]);
      return Number((rows as { n: number }[])[0]?.n ?? 0);
    };
    return {
      data: await count('SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = ?', schema),
      users: await count('SELECT count(*) AS n FROM mysql.user WHERE user = ?', user),
    };
  });
}
