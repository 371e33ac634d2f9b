import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { escapeLiteral } from 'pg';
import { type PostgresConnection, withClient } from '../../src/datastore/postgresql/connection.ts';
import { scramVerifier } from '../../src/datastore/postgresql/scram.ts';
import { POSTGRESQL_BIN, POSTGRESQL_OS_USER, startPostgres } from '../../src/datastore/postgresql/server.ts';
import type { CertificateAndKey } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import type { SupervisedProcess, Supervisor } from '../../src/process/supervisor.ts';
import { childrenOf, orCleanUp, serverDirectory, stopServer } from './database-server.ts';

/** The DataStore's administrator (basicAuth) and the one that authenticates by client certificate (its CN). */
export const ADMINISTRATOR = 'kamaji_admin';
export const CERTIFICATE_ADMINISTRATOR = 'kamaji_cert';

export interface TestPostgres {
  endpoint: string;
  ca: CertificateAndKey;
  /** The DataStore's user by basicAuth: a superuser other than `postgres`. */
  administrator: PostgresConnection;
  /** A superuser authenticated by its client certificate alone (`cert` in pg_hba.conf). */
  certificateAdministrator: PostgresConnection;
  /** The bootstrap superuser, for the test's own looks at the catalog. */
  postgres: PostgresConnection;
  /** The postmaster and every process it had started when asked. */
  processes(): Promise<number[]>;
  dir: string;
  /** Fast shutdown, then the data directory removed. */
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of its own in a temporary directory (`startPostgres`, as `kamaji up` runs it), on a free
 * loopback port, with two more superusers: one by password, one by client certificate.
 */
export async function startTestPostgres(supervisor: Supervisor): Promise<TestPostgres> {
  const server = await serverDirectory('postgresql', POSTGRESQL_OS_USER, CERTIFICATE_ADMINISTRATOR, [
    { path: join(POSTGRESQL_BIN, 'initdb'), package: 'postgresql-15' },
    { path: join(POSTGRESQL_BIN, 'postgres'), package: 'postgresql-15' },
  ]);
  const started: { process?: SupervisedProcess } = {};
  return orCleanUp(supervisor, server.dir, started, async () => {
    const administratorPassword = randomBytes(18).toString('base64url');
    const running = await startPostgres({
      dir: server.dir,
      user: server.user,
      listenAddress: '127.0.0.1',
      port: await freePort(),
      tls: server.files,
      caCertificatePem: server.ca.certificatePem,
      superuser: { username: 'postgres', password: randomBytes(18).toString('base64url') },
      certificateUsers: [CERTIFICATE_ADMINISTRATOR],
      launch: (spec) => {
        started.process = supervisor.start(spec);
        return started.process;
      },
      settings: { fsync: 'off', max_connections: '40' },
    });
    const postgres = running.administrator;
    await withClient(postgres, 'postgres', async (client) => {
      const verifier = escapeLiteral(scramVerifier(administratorPassword));
      await client.query(`CREATE ROLE ${ADMINISTRATOR} WITH LOGIN SUPERUSER PASSWORD ${verifier}`);
      await client.query(`CREATE ROLE ${CERTIFICATE_ADMINISTRATOR} WITH LOGIN SUPERUSER`);
    });
    const tls = { endpoints: [running.endpoint], caCertificatePem: server.ca.certificatePem };
    const postmaster = running.process;
    return {
      endpoint: running.endpoint,
      ca: server.ca,
      administrator: { ...tls, username: ADMINISTRATOR, password: administratorPassword },
      certificateAdministrator: {
        ...tls,
        clientCertificatePem: server.client.certificatePem,
        clientKeyPem: server.client.privateKeyPem,
      },
      postgres,
      processes: async () => [postmaster.pid, ...(await childrenOf(postmaster.pid))],
      dir: server.dir,
      stop: () => stopServer(supervisor, postmaster, server.dir, 'SIGINT'),
    };
  });
}
