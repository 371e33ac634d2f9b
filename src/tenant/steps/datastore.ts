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

export interface DatastoreSecretsInput {
  context: TenantContext;
  /** The DataStore's CA (certificate and key): tenant client certificates are signed with it. */
  datastoreCa: CertificateAndKey;
  /** The etcd user; etcd takes it from the client certificate's common name. */
  username: string;
  existing: ReadonlyMap<string, SecretText>;
  options: PkiOptions;
}

/**
 * The tenant's datastore credentials: a client certificate whose CN is its etcd user (keys named as upstream:
 * ca.crt, server.crt, server.key), and the connection settings (DB_* keys, as upstream).
 */
export async function desiredDatastoreSecrets(input: DatastoreSecretsInput): Promise<DesiredSecret[]> {
  const { context, datastoreCa, username, existing, options } = input;
  const names = objectNames(context.name);
  const stored = existing.get(names.datastoreCertificateSecret);
  const client = await keepOrIssue(
    stored && { certificatePem: stored['server.crt'] ?? '', privateKeyPem: stored['server.key'] ?? '' },
    datastoreCa,
    {
      commonName: username,
      usages: ['clientAuth'],
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
        'ca.crt': datastoreCa.certificatePem,
        'server.crt': client.certificatePem,
        'server.key': client.privateKeyPem,
      },
    },
    {
      name: names.datastoreConfigSecret,
      component: 'datastore-config',
      data: {
        DB_CONNECTION_STRING: context.datastore.endpoints.map(etcdClientUrl).join(','),
        DB_SCHEMA: context.datastore.schema,
        DB_USER: username,
        // etcd tenants authenticate by certificate only.
        DB_PASSWORD: '',
      },
    },
  ];
}
