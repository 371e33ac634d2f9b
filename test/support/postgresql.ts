import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { escapeLiteral } from 'pg';
import { type PostgresConnection, withClient } from '../../src/datastore/postgresql/connection.ts';
import { scramVerifier } from '../../src/datastore/postgresql/scram.ts';
import type { CertificateAndKey } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { childrenOf, orCleanUp, serverDirectory, stopServer } from './database-server.ts';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 (package postgresql-15, in the test prerequisites). */
export const POSTGRESQL_BIN = '/usr/lib/postgresql/15/bin';

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
 * A PostgreSQL cluster of its own in a temporary directory: TLS only (`hostssl`, a server certificate from our
 * PKI), scram-sha-256 passwords, on a free loopback port and no Unix socket. PostgreSQL refuses to run as root, so
 * as root it runs as the `postgres` OS user.
 */
export async function startTestPostgres(supervisor: Supervisor): Promise<TestPostgres> {
  const server = await serverDirectory('postgresql', 'postgres', CERTIFICATE_ADMINISTRATOR, [
    { path: join(POSTGRESQL_BIN, 'initdb'), package: 'postgresql-15' },
    { path: join(POSTGRESQL_BIN, 'postgres'), package: 'postgresql-15' },
  ]);
  const started: { process?: SupervisedProcess } = {};
  return orCleanUp(supervisor, server.dir, started, async () => {
    const { dir, files } = server;
    const secrets = {
      postgres: randomBytes(18).toString('base64url'),
      administrator: randomBytes(18).toString('base64url'),
    };
    const data = join(dir, 'data');
    const passwordFile = join(dir, 'postgres.password');
    await writeFile(passwordFile, secrets.postgres, { mode: 0o600 });
    await server.give(passwordFile);
    const initdb = server.asServerUser(join(POSTGRESQL_BIN, 'initdb'), [
      `--pgdata=${data}`,
      '--username=postgres',
      `--pwfile=${passwordFile}`,
      '--auth=scram-sha-256',
      '--encoding=UTF8',
      '--locale=C',
      '--no-sync',
    ]);
    await run(...initdb, { cwd: dir });
    // TLS only: a plain connection has no pg_hba.conf line to match and is refused.
    await writeFile(
      join(data, 'pg_hba.conf'),
      [
        `hostssl all ${CERTIFICATE_ADMINISTRATOR} 127.0.0.1/32 cert`,
        'hostssl all all 127.0.0.1/32 scram-sha-256',
        '',
      ].join('\n'),
    );
    const port = await freePort();
    const [command, args] = server.asServerUser(join(POSTGRESQL_BIN, 'postgres'), [
      `-D${data}`,
      '-clisten_addresses=127.0.0.1',
      `-cport=${port}`,
      '-cunix_socket_directories=',
      '-cssl=on',
      `-cssl_cert_file=${files.cert}`,
      `-cssl_key_file=${files.key}`,
      `-cssl_ca_file=${files.ca}`,
      '-cpassword_encryption=scram-sha-256',
      '-cfsync=off',
      '-cmax_connections=40',
    ]);
    const postmaster = supervisor.start({
      name: 'postgresql',
      command,
      args,
      logFile: join(dir, 'postgresql.log'),
      cwd: dir,
    });
    started.process = postmaster;
    const endpoint = `127.0.0.1:${port}`;
    const tls = { endpoints: [endpoint], caCertificatePem: server.ca.certificatePem };
    const postgres: PostgresConnection = { ...tls, username: 'postgres', password: secrets.postgres };
    await waitFor(() => withClient(postgres, 'postgres', (client) => client.query('SELECT 1')), {
      timeoutMs: 30_000,
      description: `PostgreSQL at ${endpoint}`,
      giveUp: () => exitedWithLog(postmaster),
    });
    await withClient(postgres, 'postgres', async (client) => {
      const verifier = escapeLiteral(scramVerifier(secrets.administrator));
      await client.query(`CREATE ROLE ${ADMINISTRATOR} WITH LOGIN SUPERUSER PASSWORD ${verifier}`);
      await client.query(`CREATE ROLE ${CERTIFICATE_ADMINISTRATOR} WITH LOGIN SUPERUSER`);
    });
    return {
      endpoint,
      ca: server.ca,
      administrator: { ...tls, username: ADMINISTRATOR, password: secrets.administrator },
      certificateAdministrator: {
        ...tls,
        clientCertificatePem: server.client.certificatePem,
        clientKeyPem: server.client.privateKeyPem,
      },
      postgres,
      processes: async () => [postmaster.pid, ...(await childrenOf(postmaster.pid))],
      dir,
      stop: () => stopServer(supervisor, postmaster, dir, 'SIGINT'),
    };
  });
}
