import type { CertificateAndKey } from '../pki/certificates.ts';
import type { EtcdConnection } from './etcd/connection.ts';

/** A value given inline (base64 `content`) or by reference to a key of a Secret, as DataStore fields are. */
export interface ContentReference {
  content?: string;
  secretReference?: { name?: string; namespace?: string; keyPath?: string };
}

/** Reads a Secret's data, decoded to text; undefined when the Secret does not exist. */
export type SecretReader = (namespace: string, name: string) => Promise<Record<string, string> | undefined>;

/** What a DataStore says about reaching its backend (the fields of its spec that matter here). */
export interface DataStoreConnectionSpec {
  driver: string;
  endpoints: readonly string[];
  tlsConfig?: {
    certificateAuthority?: { certificate?: ContentReference; privateKey?: ContentReference };
    clientCertificate?: { certificate?: ContentReference; privateKey?: ContentReference };
  };
}

/** An error about a DataStore that names the field at fault and how to fix it. */
export class DataStoreConfigError extends Error {
  readonly field: string;
  /** What is wrong with the field and what to do, without the DataStore's name. */
  readonly problem: string;
  constructor(dataStore: string, field: string, problem: string) {
    super(`DataStore ${dataStore}: ${field}: ${problem}`);
    this.field = field;
    this.problem = problem;
  }
}

export async function resolveContent(
  dataStore: string,
  field: string,
  reference: ContentReference | undefined,
  readSecret: SecretReader,
): Promise<string> {
  if (reference?.content) return Buffer.from(reference.content, 'base64').toString('utf8');
  const secret = reference?.secretReference;
  if (!secret?.name || !secret.namespace || !secret.keyPath) {
    throw new DataStoreConfigError(
      dataStore,
      field,
      'set either content (base64) or secretReference {name, namespace, keyPath}',
    );
  }
  const data = await readSecret(secret.namespace, secret.name);
  if (!data)
    throw new DataStoreConfigError(dataStore, field, `Secret ${secret.namespace}/${secret.name} does not exist`);
  const value = data[secret.keyPath];
  if (!value) {
    throw new DataStoreConfigError(
      dataStore,
      field,
      `Secret ${secret.namespace}/${secret.name} has no key "${secret.keyPath}" (it has: ${Object.keys(data).join(', ') || 'none'})`,
    );
  }
  return value;
}

/** The etcd root connection and CA of an etcd DataStore: both are required to give tenants their own users. */
export async function resolveEtcdDataStore(
  name: string,
  spec: DataStoreConnectionSpec,
  readSecret: SecretReader,
): Promise<{ root: EtcdConnection; ca: CertificateAndKey }> {
  if (spec.driver !== 'etcd') {
    throw new DataStoreConfigError(name, 'spec.driver', `driver ${spec.driver} is not supported yet; use etcd`);
  }
  if (spec.endpoints.length === 0)
    throw new DataStoreConfigError(name, 'spec.endpoints', 'at least one host:port is needed');
  const tls = spec.tlsConfig;
  const field = (path: string) => `spec.tlsConfig.${path}`;
  const [caCertificate, caKey, clientCertificate, clientKey] = await Promise.all([
    resolveContent(name, field('certificateAuthority.certificate'), tls?.certificateAuthority?.certificate, readSecret),
    resolveContent(name, field('certificateAuthority.privateKey'), tls?.certificateAuthority?.privateKey, readSecret),
    resolveContent(name, field('clientCertificate.certificate'), tls?.clientCertificate?.certificate, readSecret),
    resolveContent(name, field('clientCertificate.privateKey'), tls?.clientCertificate?.privateKey, readSecret),
  ]);
  return {
    root: {
      endpoints: spec.endpoints,
      caCertificatePem: caCertificate,
      clientCertificatePem: clientCertificate,
      clientKeyPem: clientKey,
    },
    ca: { certificatePem: caCertificate, privateKeyPem: caKey },
  };
}
