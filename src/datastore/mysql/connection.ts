import mysql from 'mysql2/promise';
import { administratorName, primaryEndpoint, type SqlConnection, tlsOptions } from '../sql/connection.ts';

/** A MySQL or MariaDB DataStore's administrator connection (src/datastore/sql/connection.ts). */
export type MysqlConnection = SqlConnection;

export const MYSQL_PORT = 3306;

/** How long connecting may take before the server counts as unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/** mysql2's settings: TLS required, the server's certificate checked; one statement per query. */
export function connectionOptions(connection: MysqlConnection, database?: string): mysql.ConnectionOptions {
  const { host, port } = primaryEndpoint(connection, MYSQL_PORT);
  return {
    host,
    port,
    user: administratorName(connection),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(database !== undefined ? { database } : {}),
    connectTimeout: CONNECT_TIMEOUT_MS,
    multipleStatements: false,
    ssl: tlsOptions(connection),
  };
}

/** Runs `work` on a connection of its own, closed afterwards whatever happens. */
export async function withConnection<T>(
  connection: MysqlConnection,
  database: string | undefined,
  work: (client: mysql.Connection) => Promise<T>,
): Promise<T> {
  const client = await mysql.createConnection(connectionOptions(connection, database));
  client.on('error', () => undefined);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}
