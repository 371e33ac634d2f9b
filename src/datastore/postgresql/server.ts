import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { exitedWithLog } from '../../process/supervisor.ts';
import { waitFor } from '../../util/wait.ts';
import { type RunningSqlServer, SQL_SERVER_READY_TIMEOUT_MS, type SqlServerOptions } from '../sql/server.ts';
import { type PostgresConnection, withClient } from './connection.ts';

const run = promisify(execFile);

/** Debian's PostgreSQL 15 (package postgresql-15): 15 is the oldest the driver supports (docs/datastore-sql.md). */
export const POSTGRESQL_BIN = '/usr/lib/postgresql/15/bin';
export const POSTGRESQL_OS_USER = 'postgres';

export interface PostgresServerOptions extends SqlServerOptions {
  /** The bootstrap superuser `initdb` creates on the first start, with its password (scram-sha-256). */
  superuser: { username: string; password: string };
  /** Users authenticated by their client certificate alone (`cert` in pg_hba.conf); their CN is the user. */
  certificateUsers?: readonly string[];
}

/**
 * A PostgreSQL cluster in `dir/data`, initialised on the first start (`initdb`), then started: TLS only (`hostssl`:
 * a plain connection has no pg_hba.conf line to match), scram-sha-256 passwords, no Unix socket. Resolves once it
 * answers the superuser.
 */
export async function startPostgres(options: PostgresServerOptions): Promise<RunningSqlServer<PostgresConnection>> {
  const { dir, user, superuser } = options;
  const data = join(dir, 'data');
  if (!existsSync(join(data, 'PG_VERSION'))) await initialise(options, data);
  // Written on every start, so that what a start allows is what this code says.
  const hba = join(data, 'pg_hba.conf');
  await writeFile(
    hba,
    [
      ...(options.certificateUsers ?? []).map((name) => `hostssl all ${name} all cert`),
      'hostssl all all all scram-sha-256',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  await user.give(hba);
  const settings = {
    listen_addresses: options.listenAddress,
    port: String(options.port),
    unix_socket_directories: '',
    ssl: 'on',
    ssl_cert_file: options.tls.cert,
    ssl_key_file: options.tls.key,
    ssl_ca_file: options.tls.ca,
    password_encryption: 'scram-sha-256',
    ...options.settings,
  };
  const [command, args] = user.command(join(POSTGRESQL_BIN, 'postgres'), [
    `-D${data}`,
    ...Object.entries(settings).map(([name, value]) => `-c${name}=${value}`),
  ]);
  const postmaster = await options.launch({
    name: 'postgresql',
    command,
    args,
    logFile: join(dir, 'postgresql.log'),
    cwd: dir,
  });
  const endpoint = `${options.listenAddress}:${options.port}`;
  const administrator: PostgresConnection = {
    endpoints: [endpoint],
    caCertificatePem: options.caCertificatePem,
    username: superuser.username,
    password: superuser.password,
  };
  await waitFor(() => withClient(administrator, 'postgres', (client) => client.query('SELECT 1')), {
    timeoutMs: SQL_SERVER_READY_TIMEOUT_MS,
    description: `PostgreSQL at ${endpoint}`,
    giveUp: () => exitedWithLog(postmaster),
  });
  return { process: postmaster, endpoint, administrator };
}

async function initialise(options: PostgresServerOptions, data: string): Promise<void> {
  const { dir, user, superuser } = options;
  // What a start interrupted during initdb left would make initdb refuse the directory.
  await rm(data, { recursive: true, force: true });
  const passwordFile = join(dir, 'superuser.password');
  await writeFile(passwordFile, superuser.password, { mode: 0o600 });
  await user.give(passwordFile);
  try {
    await run(
      ...user.command(join(POSTGRESQL_BIN, 'initdb'), [
        `--pgdata=${data}`,
        `--username=${superuser.username}`,
        `--pwfile=${passwordFile}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        '--no-sync',
      ]),
      { cwd: dir },
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}
