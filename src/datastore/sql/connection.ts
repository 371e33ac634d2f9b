import { X509Certificate } from 'node:crypto';

/**
 * What it takes to reach a SQL DataStore (PostgreSQL, MySQL) as its administrator: always TLS, verified against
 * the DataStore's CA; authenticated by password (`basicAuth`) or by client certificate
 * (`tlsConfig.clientCertificate`, whose CN is then the user), as the DataStore says.
 */
export interface SqlConnection {
  /** `host:port`; these servers have one primary, so the first is the one used. */
  endpoints: readonly string[];
  caCertificatePem: string;
  clientCertificatePem?: string;
  clientKeyPem?: string;
  /** basicAuth; without them, the client certificate's CN is the user. */
  username?: string;
  password?: string;
}

/** The host and port of the endpoint used, for connections and messages. */
export function primaryEndpoint(connection: SqlConnection, defaultPort: number): { host: string; port: number } {
  const endpoint = connection.endpoints[0];
  if (!endpoint) throw new Error('spec.endpoints: a SQL DataStore needs one host:port');
  const match = /^(\[[^\]]+\]|[^:/[\]]+)(?::(\d+))?$/.exec(endpoint);
  if (!match?.[1]) throw new Error(`spec.endpoints: ${endpoint} is not host:port`);
  return { host: match[1].replace(/^\[|\]$/g, ''), port: Number(match[2] ?? defaultPort) };
}

/** The user the DataStore connects as: the basicAuth user, or the client certificate's CN. */
export function administratorName(connection: SqlConnection): string {
  if (connection.username) return connection.username;
  const commonName = connection.clientCertificatePem
    ? new X509Certificate(connection.clientCertificatePem).subject
        .split('\n')
        .find((line) => line.startsWith('CN='))
        ?.slice(3)
    : undefined;
  if (!commonName) {
    throw new Error('a SQL DataStore needs spec.basicAuth or a client certificate with a CN (spec.tlsConfig)');
  }
  return commonName;
}

/** The TLS settings both clients take (Node's): the server verified by the CA, the client certificate if any. */
export function tlsOptions(connection: SqlConnection): {
  ca: string;
  rejectUnauthorized: true;
  cert?: string;
  key?: string;
} {
  return {
    ca: connection.caCertificatePem,
    rejectUnauthorized: true,
    ...(connection.clientCertificatePem && connection.clientKeyPem
      ? { cert: connection.clientCertificatePem, key: connection.clientKeyPem }
      : {}),
  };
}
