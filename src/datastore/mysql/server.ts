import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { exitedWithLog } from '../../process/supervisor.ts';
import { waitFor } from '../../util/wait.ts';
import { type RunningSqlServer, SQL_SERVER_READY_TIMEOUT_MS, type SqlServerOptions } from '../sql/server.ts';
import type { MysqlConnection } from './connection.ts';

const run = promisify(execFile);

/** Debian's MariaDB (package mariadb-server). */
export const MARIADB_INSTALL_DB = '/usr/bin/mariadb-install-db';
export const MARIADBD = '/usr/sbin/mariadbd';
export const MARIADB_OS_USER = 'mysql';

export interface MariadbServerOptions extends SqlServerOptions {
  /** The DataStore's administrator: every privilege WITH GRANT OPTION, TLS required; created when missing. */
  administrator: { username: string; password: string };
}

export interface RunningMariadb extends RunningSqlServer<MysqlConnection> {
  /** root over the server's Unix socket, the only way root logs in. */
  root(): Promise<mysql.Connection>;
}

/**
 * A MariaDB server in `dir/data`, initialised on the first start (`mariadb-install-db`), then started: TLS required
 * on TCP (`require_secure_transport`), root only over its Unix socket in `dir`, no anonymous user. Resolves once the
 * administrator exists.
 */
export async function startMariadb(options: MariadbServerOptions): Promise<RunningMariadb> {
  const { dir, user } = options;
  const data = join(dir, 'data');
  const socket = join(dir, 'mariadb.sock');
  if (!existsSync(join(data, 'mysql'))) {
    await rm(data, { recursive: true, force: true });
    await run(
      ...user.command(MARIADB_INSTALL_DB, [
        '--no-defaults',
        `--datadir=${data}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
      ]),
      { cwd: dir },
    );
  }
  const settings = {
    'bind-address': options.listenAddress,
    port: String(options.port),
    'ssl-cert': options.tls.cert,
    'ssl-key': options.tls.key,
    'ssl-ca': options.tls.ca,
    'require-secure-transport': 'ON',
    ...options.settings,
  };
  const [command, args] = user.command(MARIADBD, [
    '--no-defaults',
    `--datadir=${data}`,
    `--socket=${socket}`,
    `--pid-file=${join(dir, 'mariadb.pid')}`,
    '--skip-name-resolve',
    '--skip-log-bin',
    ...Object.entries(settings).map(([name, value]) => `--${name}=${value}`),
  ]);
  const mariadbd = await options.launch({
    name: 'mariadb',
    command,
    args,
    logFile: join(dir, 'mariadb.log'),
    cwd: dir,
  });
  const root = () => mysql.createConnection({ socketPath: socket, user: 'root' });
  await waitFor(
    async () => {
      const connection = await root();
      await connection.end();
      return true;
    },
    {
      timeoutMs: SQL_SERVER_READY_TIMEOUT_MS,
      description: `MariaDB at ${socket}`,
      giveUp: () => exitedWithLog(mariadbd),
    },
  );
  const { username, password } = options.administrator;
  const connection = await root();
  try {
    // Root stays on the socket only; anonymous users and root over TCP (without a password) go.
    await connection.query("DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')");
    await connection.query('FLUSH PRIVILEGES');
    await connection.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ? REQUIRE SSL', [username, '%', password]);
    await connection.query('GRANT ALL PRIVILEGES ON *.* TO ?@? WITH GRANT OPTION', [username, '%']);
  } finally {
    await connection.end();
  }
  const endpoint = `${options.listenAddress}:${options.port}`;
  return {
    process: mariadbd,
    endpoint,
    administrator: { endpoints: [endpoint], caCertificatePem: options.caCertificatePem, username, password },
    root,
  };
}
