import { type ConnectionOptions, checkServerIdentity, type PeerCertificate } from 'node:tls';
import {
  connect,
  credsAuthenticator,
  type NatsConnection as NatsClient,
  type TlsOptions,
} from '@nats-io/transport-node';
import { endpointHostPort, parseEndpoint } from '../../util/endpoints.ts';

/**
 * What it takes to reach a NATS DataStore as Kamaji: TLS verified against the DataStore's CA, and the operator's
 * seed, from which every account and user key is derived (accounts.ts).
 */
export interface NatsConnection {
  /** `host:port` of each server of the cluster. */
  endpoints: readonly string[];
  caCertificatePem: string;
  operatorSeed: string;
}

const CONNECT_TIMEOUT_MS = 5_000;

/** A client logged in with `creds`, over TLS only (the server's certificate verified by the DataStore's CA). */
export async function connectNats(connection: NatsConnection, creds: string, name: string): Promise<NatsClient> {
  const hosts = connection.endpoints.map(
    (endpoint) => parseEndpoint(endpoint)?.host.replace(/^\[|\]$/g, '') ?? endpoint,
  );
  const tls: TlsOptions & Pick<ConnectionOptions, 'checkServerIdentity'> = {
    ca: connection.caCertificatePem,
    // The client names no host to Node's TLS (an IP cannot be sent as SNI), which would then check "localhost":
    // the certificate must name one of the DataStore's endpoints instead.
    checkServerIdentity: (_host: string, certificate: PeerCertificate) => {
      const problems = hosts.map((host) => checkServerIdentity(host, certificate));
      return problems.some((problem) => problem === undefined) ? undefined : problems[0];
    },
  };
  return connect({
    servers: connection.endpoints.map((endpoint) => `tls://${endpointHostPort(endpoint)}`),
    tls,
    authenticator: credsAuthenticator(new TextEncoder().encode(creds)),
    name,
    timeout: CONNECT_TIMEOUT_MS,
    // A call fails rather than waits for a server that is gone; the next reconcile connects again.
    reconnect: false,
  });
}

export type { NatsClient };
