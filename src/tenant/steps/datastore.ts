import type { KineDriver } from '../../datastore/kine-endpoint.ts';
import type { CertificateAndKey } from '../../pki/certificates.ts';
import { etcdClientUrl } from '../../util/endpoints.ts';
import type { TenantContext } from '../context.ts';
import { objectNames } from '../names.ts';
import {
  type DesiredSecret,
  keepOrIssue,
  LEAF_VALIDITY_DAYS,
  type PkiOptions,
  type SecretText,
} from './certificates.ts';

/** How the tenant authenticates to its DataStore. */
export type TenantCredentials =
  /** etcd: a client certificate signed by the DataStore's CA (certificate and key); its CN is the user. */
  | { kind: 'etcd'; datastoreCa: CertificateAndKey }
  /**
   * PostgreSQL, MySQL, NATS: the tenant user's password; the server is verified with the DataStore's CA certificate.
   * NATS also needs the creds file kine logs in with (`natsCredentials`).
   */
  | {
      kind: KineDriver;
      caCertificatePem: string;
      password: string;
      natsCredentials?: string;
      /** Signs kine's certificate: kine's serving one, and the API server's client one towards kine. */
      tenantCa: CertificateAndKey;
    };

export interface DatastoreSecretsInput {
  context: TenantContext;
  credentials: TenantCredentials;
  /** The tenant's datastore user. */
  username: string;
  existing: ReadonlyMap<string, SecretText>;
  options: PkiOptions;
}

/**
 * The tenant's datastore credentials and connection settings (DB_* keys, as upstream). etcd: a client certificate
 * whose CN is its etcd user (keys named as upstream: ca.crt, server.crt, server.key). SQL: the server's CA
 * (`ca.crt`, for kine to verify the server), kine's certificate (server.crt, server.key) and the user's password.
 */
export async function desiredDatastoreSecrets(input: DatastoreSecretsInput): Promise<DesiredSecret[]> {
  const { context, credentials, username, existing, options } = input;
  const names = objectNames(context.name);
  const behindKine = credentials.kind !== 'etcd';
  const certificate = await keepOrIssue(
    certificateIn(existing.get(names.datastoreCertificateSecret)),
    behindKine ? credentials.tenantCa : credentials.datastoreCa,
    {
      ...(behindKine
        ? {
            commonName: KINE_COMMON_NAME,
            subjectAltNames: ['127.0.0.1', 'localhost'],
            usages: ['serverAuth', 'clientAuth'],
          }
        : { commonName: username, usages: ['clientAuth'] }),
      validityDays: LEAF_VALIDITY_DAYS,
      keyAlgorithm: context.keyAlgorithm,
    },
    options,
  );
  return [
    {
      name: names.datastoreCertificateSecret,
      component: 'datastore-certificate',
      data: {
        'ca.crt': behindKine ? credentials.caCertificatePem : credentials.datastoreCa.certificatePem,
        'server.crt': certificate.certificatePem,
        'server.key': certificate.privateKeyPem,
        ...(behindKine && credentials.natsCredentials ? { [NATS_CREDENTIALS_KEY]: credentials.natsCredentials } : {}),
      },
    },
    {
      name: names.datastoreConfigSecret,
      component: 'datastore-config',
      data: {
        // SQL, NATS: host:port, as upstream (kine's endpoint URL is built from it); the first endpoint.
        DB_CONNECTION_STRING: behindKine
          ? (context.datastore.endpoints[0] ?? '')
          : context.datastore.endpoints.map(etcdClientUrl).join(','),
        DB_SCHEMA: context.datastore.schema,
        DB_USER: username,
        // etcd tenants authenticate by certificate only.
        DB_PASSWORD: behindKine ? credentials.password : '',
      },
    },
  ];
}

/** The key of the datastore certificate Secret holding a NATS tenant's creds file (mounted for kine). */
export const NATS_CREDENTIALS_KEY = 'nats.creds';

/** The common name of kine's certificate, which is also the API server's client certificate towards kine. */
export const KINE_COMMON_NAME = 'kube-apiserver-kine';

function certificateIn(stored: SecretText | undefined): CertificateAndKey | undefined {
  return stored && { certificatePem: stored['server.crt'] ?? '', privateKeyPem: stored['server.key'] ?? '' };
}
