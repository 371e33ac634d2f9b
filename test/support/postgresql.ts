import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { escapeLiteral } from 'pg';
import { type PostgresConnection, withClient } from '../../src/datastore/postgresql/connection.ts';
import { scramVerifier } from '../../src/datastore/postgresql/scram.ts';
import { type CertificateAndKey, createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';

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
  const ca = await createCertificateAuthority('kamaji-test-postgresql-ca', { validityDays: 1 });
  const [server, certificateClient] = await Promise.all([
    issueCertificate(ca, {
      commonName: 'postgresql',
      subjectAltNames: ['127.0.0.1'],
      usages: ['serverAuth'],
      validityDays: 1,
    }),
    issueCertificate(ca, { commonName: CERTIFICATE_ADMINISTRATOR, usages: ['clientAuth'], validityDays: 1 }),
  ]);
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-postgresql-'));
  const owner = await postgresOsUser();
  const asPostgres = (command: string, args: string[]): [string, string[]] =>
    owner
      ? ['/usr/bin/setpriv', [`--reuid=${owner.uid}`, `--regid=${owner.gid}`, '--clear-groups', '--', command, ...args]]
      : [command, args];
  const give = async (path: string) => {
    if (owner) await chown(path, owner.uid, owner.gid);
  };
  await give(dir);
  const secrets = {
    postgres: randomBytes(18).toString('base64url'),
    administrator: randomBytes(18).toString('base64url'),
  };
  const files = {
    data: join(dir, 'data'),
    password: join(dir, 'postgres.password'),
    cert: join(dir, 'server.crt'),
    key: join(dir, 'server.key'),
    ca: join(dir, 'ca.crt'),
  };
  await writeFile(files.password, secrets.postgres, { mode: 0o600 });
  await writeFile(files.cert, server.certificatePem);
  await writeFile(files.key, server.privateKeyPem, { mode: 0o600 });
  await writeFile(files.ca, ca.certificatePem);
  for (const path of [files.password, files.cert, files.key, files.ca]) await give(path);
  const initdb = asPostgres(join(POSTGRESQL_BIN, 'initdb'), [
    `--pgdata=${files.data}`,
    '--username=postgres',
    `--pwfile=${files.password}`,
    '--auth=scram-sha-256',
    '--encoding=UTF8',
    '--locale=C',
    '--no-sync',
  ]);
  await run(...initdb, { cwd: dir });
  // TLS only: a plain connection has no pg_hba.conf line to match and is refused.
  await writeFile(
    join(files.data, 'pg_hba.conf'),
    [
      `hostssl all ${CERTIFICATE_ADMINISTRATOR} 127.0.0.1/32 cert`,
      'hostssl all all 127.0.0.1/32 scram-sha-256',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const [command, args] = asPostgres(join(POSTGRESQL_BIN, 'postgres'), [
    `-D${files.data}`,
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
  const endpoint = `127.0.0.1:${port}`;
  const tls = { endpoints: [endpoint], caCertificatePem: ca.certificatePem };
  const postgres: PostgresConnection = { ...tls, username: 'postgres', password: secrets.postgres };
  await waitFor(() => withClient(postgres, 'postgres', (client) => client.query('SELECT 1')), {
    timeoutMs: 30_000,
    description: `PostgreSQL at ${endpoint}`,
    giveUp: () => exitedWithLog(postmaster),
  });
  await withClient(postgres, 'postgres', async (client) => {
    await client.query(
      `CREATE ROLE ${ADMINISTRATOR} WITH LOGIN SUPERUSER PASSWORD ${escapeLiteral(scramVerifier(secrets.administrator))}`,
    );
    await client.query(`CREATE ROLE ${CERTIFICATE_ADMINISTRATOR} WITH LOGIN SUPERUSER`);
  });
  return {
    endpoint,
    ca,
    administrator: { ...tls, username: ADMINISTRATOR, password: secrets.administrator },
    certificateAdministrator: {
      ...tls,
      clientCertificatePem: certificateClient.certificatePem,
      clientKeyPem: certificateClient.privateKeyPem,
    },
    postgres,
    processes: async () => [postmaster.pid, ...(await childrenOf(postmaster.pid))],
    dir,
    stop: () => stopPostgres(supervisor, postmaster, dir),
  };
}

async function stopPostgres(supervisor: Supervisor, postmaster: SupervisedProcess, dir: string): Promise<void> {
  if (!postmaster.hasExited()) {
    // SIGINT is PostgreSQL's fast shutdown: sessions ended, a checkpoint, then exit; the supervisor's SIGTERM to
    // the group (and SIGKILL after its grace) only if that does not come.
    process.kill(postmaster.pid, 'SIGINT');
    const timeout = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([postmaster.exited, timeout]);
    await supervisor.stop(postmaster);
  }
  await rm(dir, { recursive: true, force: true });
}

/** The uid and gid of the `postgres` OS user when running as root (Debian's package creates it); else none. */
async function postgresOsUser(): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((entry) => entry.startsWith('postgres:'));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid) throw new Error('no postgres OS user: install postgresql-15 (npm test as root does)');
  return { uid: Number(uid), gid: Number(gid) };
}

/** The pids whose parent is `pid` (PostgreSQL's background processes and sessions). */
async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) children.push(Number(entry));
  }
  return children;
}
