import { Etcd3 } from 'etcd3';
import { etcdClientUrl } from '../../util/endpoints.ts';

/** What it takes to reach an etcd cluster with a client certificate. */
export interface EtcdConnection {
  /** `host:port` or `https://host:port`. */
  endpoints: readonly string[];
  caCertificatePem: string;
  clientCertificatePem?: string;
  clientKeyPem?: string;
}

const CALL_TIMEOUT_MS = 10_000;

/** With client-certificate authentication, etcd takes the certificate's common name as the user name. */
export function connectEtcd(connection: EtcdConnection): Etcd3 {
  return new Etcd3({
    hosts: connection.endpoints.map(etcdClientUrl),
    credentials: {
      rootCertificate: Buffer.from(connection.caCertificatePem),
      ...(connection.clientCertificatePem && connection.clientKeyPem
        ? { certChain: Buffer.from(connection.clientCertificatePem), privateKey: Buffer.from(connection.clientKeyPem) }
        : {}),
    },
    dialTimeout: CALL_TIMEOUT_MS,
    defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
  });
}
