import { X509Certificate } from 'node:crypto';
import pg from 'pg';

/**
 * What it takes to reach a PostgreSQL DataStore as its administrator: always TLS, verified against the DataStore's
 * CA; authenticated by password (`basicAuth`) or by client certificate (`tlsConfig.clientCertificate`, whose CN is
 * then the user), as the DataStore says.
 */
export interface PostgresConnection {
  /** `host:port`; PostgreSQL has one primary, so the first is the one used. */
  endpoints: readonly string[];
  caCertificatePem: string;
  clientCertificatePem?: string;
  clientKeyPem?: string;
  /** basicAuth; without them, the client certificate's CN is the user. */
  username?: string;
  password?: string;
}

/** How long connecting may take before the server counts as unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/** The host and port of the endpoint used, for connections and messages. */
export function primaryEndpoint(connection: PostgresConnection): { host: string; port: number } {
  const endpoint = connection.endpoints[0];
  if (!endpoint) throw new Error('a PostgreSQL DataStore needs one endpoint (spec.endpoints)');
  const match = /^(?:postgres(?:ql)?:\/\/)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\/?$/.exec(endpoint);
  if (!match?.[1]) throw new Error(`spec.endpoints: ${endpoint} is not host:port`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2] ?? 5432) };
}

/** The role the DataStore connects as: the basicAuth user, or the client certificate's CN. */
export function administratorName(connection: PostgresConnection): string {
  if (connection.username) return connection.username;
  const commonName = connection.clientCertificatePem
    ? new X509Certificate(connection.clientCertificatePem).subject
        .split('\n')
        .find((line) => line.startsWith('CN='))
        ?.slice(3)
    : undefined;
  if (!commonName) {
    throw new Error('a PostgreSQL DataStore needs basicAuth or a client certificate with a CN (spec.tlsConfig)');
  }
  return commonName;
}

/** `pg`'s settings for one connection to `database`: TLS required, the server's certificate checked. */
export function clientConfig(connection: PostgresConnection, database: string): pg.ClientConfig {
  const { host, port } = primaryEndpoint(connection);
  return {
    host,
    port,
    database,
    user: administratorName(connection),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ssl: {
      ca: connection.caCertificatePem,
      rejectUnauthorized: true,
      ...(connection.clientCertificatePem && connection.clientKeyPem
        ? { cert: connection.clientCertificatePem, key: connection.clientKeyPem }
        : {}),
    },
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
