import {
  type ContentReference,
  DataStoreConfigError,
  type DataStoreConnectionSpec,
  resolveContent,
  type SecretReader,
} from '../resolve.ts';
import type { SqlConnection } from './connection.ts';

/** The DataStore drivers served by the SQL drivers, as upstream spells them. */
export const SQL_DRIVERS = ['PostgreSQL', 'MySQL'] as const;
export type SqlDriverName = (typeof SQL_DRIVERS)[number];

/** A SQL DataStore's spec: the connection fields, and basicAuth. */
export interface SqlDataStoreSpec extends DataStoreConnectionSpec {
  basicAuth?: { username?: ContentReference; password?: ContentReference };
}

/**
 * The administrator connection of a PostgreSQL or MySQL DataStore. TLS is required (a deliberate tightening of
 * upstream, which also allows basicAuth in the clear): the server's CA always, then basicAuth when given, else the
 * client certificate (its CN is the user).
 */
export async function resolveSqlDataStore(
  name: string,
  spec: SqlDataStoreSpec,
  readSecret: SecretReader,
): Promise<{ driver: SqlDriverName; connection: SqlConnection }> {
  const driver = SQL_DRIVERS.find((candidate) => candidate === spec.driver);
  if (!driver) {
    throw new DataStoreConfigError(
      name,
      'spec.driver',
      `${spec.driver} is not a SQL driver (${SQL_DRIVERS.join(', ')})`,
    );
  }
  if (spec.endpoints.length === 0) {
    throw new DataStoreConfigError(name, 'spec.endpoints', 'at least one host:port is needed');
  }
  const tls = spec.tlsConfig;
  if (!tls?.certificateAuthority?.certificate) {
    throw new DataStoreConfigError(
      name,
      'spec.tlsConfig.certificateAuthority.certificate',
      `Kamaji reaches ${driver} over TLS only: set the CA certificate that signed the server's certificate`,
    );
  }
  const caCertificatePem = await resolveContent(
    name,
    'spec.tlsConfig.certificateAuthority.certificate',
    tls.certificateAuthority.certificate,
    readSecret,
  );
  const base = { endpoints: spec.endpoints, caCertificatePem };
  if (spec.basicAuth) {
    const [username, password] = await Promise.all([
      resolveContent(name, 'spec.basicAuth.username', spec.basicAuth.username, readSecret),
      resolveContent(name, 'spec.basicAuth.password', spec.basicAuth.password, readSecret),
    ]);
    return { driver, connection: { ...base, username, password } };
  }
  if (!tls.clientCertificate) {
    throw new DataStoreConfigError(
      name,
      'spec.basicAuth',
      'set basicAuth (username and password) or spec.tlsConfig.clientCertificate (its CN is the user)',
    );
  }
  const [clientCertificatePem, clientKeyPem] = await Promise.all([
    resolveContent(name, 'spec.tlsConfig.clientCertificate.certificate', tls.clientCertificate.certificate, readSecret),
    resolveContent(name, 'spec.tlsConfig.clientCertificate.privateKey', tls.clientCertificate.privateKey, readSecret),
  ]);
  return { driver, connection: { ...base, clientCertificatePem, clientKeyPem } };
}
