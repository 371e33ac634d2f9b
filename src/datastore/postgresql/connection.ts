import pg from 'pg';
import { administratorName, primaryEndpoint, type SqlConnection, tlsOptions } from '../sql/connection.ts';

/** A PostgreSQL DataStore's administrator connection (src/datastore/sql/connection.ts). */
export type PostgresConnection = SqlConnection;

export const POSTGRESQL_PORT = 5432;

/** How long connecting may take before the server counts as unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/** `pg`'s settings for one connection to `database`: TLS required, the server's certificate checked. */
export function clientConfig(connection: PostgresConnection, database: string): pg.ClientConfig {
  const { host, port } = primaryEndpoint(connection, POSTGRESQL_PORT);
  return {
    host,
    port,
    database,
    user: administratorName(connection),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ssl: tlsOptions(connection),
  };
}

/** Runs `work` on a connection of its own to `database`, closed afterwards whatever happens. */
export async function withClient<T>(
  connection: PostgresConnection,
  database: string,
  work: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client(clientConfig(connection, database));
  // An error after connecting (the server going away) is reported by the query that fails, not thrown here.
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
