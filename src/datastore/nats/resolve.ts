import {
  type ContentReference,
  DataStoreConfigError,
  type DataStoreConnectionSpec,
  resolveContent,
  type SecretReader,
} from '../resolve.ts';
import type { NatsConnection } from './connection.ts';
import { seedRole } from './nkeys.ts';

/** A NATS DataStore's spec: the connection fields, and basicAuth (whose password is the operator's seed). */
export interface NatsDataStoreSpec extends DataStoreConnectionSpec {
  basicAuth?: { username?: ContentReference; password?: ContentReference };
}

/**
 * The connection of a NATS DataStore: TLS with the server's CA (required, as for SQL), and `basicAuth.password` =
 * the seed (`SO…`) of the operator the server trusts, from which Kamaji derives the system account, its own account
 * and one account per tenant (docs/datastore-nats.md). `basicAuth.username` is not used.
 */
export async function resolveNatsDataStore(
  name: string,
  spec: NatsDataStoreSpec,
  readSecret: SecretReader,
): Promise<NatsConnection> {
  if (spec.endpoints.length === 0) {
    throw new DataStoreConfigError(name, 'spec.endpoints', 'at least one host:port is needed');
  }
  const caReference = spec.tlsConfig?.certificateAuthority?.certificate;
  if (!caReference) {
    throw new DataStoreConfigError(
      name,
      'spec.tlsConfig.certificateAuthority.certificate',
      "Kamaji reaches NATS over TLS only: set the CA certificate that signed the server's certificate",
    );
  }
  if (!spec.basicAuth?.password) {
    throw new DataStoreConfigError(
      name,
      'spec.basicAuth.password',
      'set it to the seed (SO…) of the operator the NATS server trusts (operator mode): Kamaji signs one account per tenant with it',
    );
  }
  const [caCertificatePem, operatorSeed] = await Promise.all([
    resolveContent(name, 'spec.tlsConfig.certificateAuthority.certificate', caReference, readSecret),
    resolveContent(name, 'spec.basicAuth.password', spec.basicAuth.password, readSecret),
  ]);
  if (seedRole(operatorSeed.trim()) !== 'operator') {
    throw new DataStoreConfigError(
      name,
      'spec.basicAuth.password',
      'is not an operator seed (SO…, as `nsc` or `kamaji datastore add nats` make it): put the seed of the operator the NATS server trusts there',
    );
  }
  return { endpoints: spec.endpoints, caCertificatePem, operatorSeed: operatorSeed.trim() };
}
