import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import type { MysqlConnection } from '../../src/datastore/mysql/connection.ts';
import type { CertificateAndKey } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../../src/process/supervisor.ts';
import { waitFor } from '../../src/util/wait.ts';
import { childrenOf, orCleanUp, serverDirectory, stopServer } from './database-server.ts';

const run = promisify(execFile);

/** The DataStore's administrator (basicAuth) and the one that authenticates by client certificate (its CN). */
export const ADMINISTRATOR = 'kamaji_admin';
export const CERTIFICATE_ADMINISTRATOR = 'kamaji_cert';

export interface TestMariadb {
  endpoint: string;
  ca: CertificateAndKey;
  /** The DataStore's user by basicAuth: all privileges with grant option, not `root`. */
  administrator: MysqlConnection;
  /** The same privileges, authenticated by its client certificate (`REQUIRE SUBJECT`). */
  certificateAdministrator: MysqlConnection;
  /** root over the Unix socket, for the test's own looks at the catalog. */
  root(): Promise<mysql.Connection>;
  processes(): Promise<number[]>;
  dir: string;
  stop(): Promise<void>;
}

/**
 * A MariaDB server of its own in a temporary directory (Debian's mariadb-server): TLS required on TCP
 * (`require_secure_transport`), on a free loopback port; root only over its Unix socket in that directory. As root
 * it runs as the `mysql` OS user.
 */
export async function startTestMariadb(supervisor: Supervisor): Promise<TestMariadb> {
  const server = await serverDirectory('mariadb', 'mysql', CERTIFICATE_ADMINISTRATOR, [
    { path: '/usr/bin/mariadb-install-db', package: 'mariadb-server' },
    { path: '/usr/sbin/mariadbd', package: 'mariadb-server' },
  ]);
  const started: { process?: SupervisedProcess } = {};
  return orCleanUp(supervisor, server.dir, started, async () => {
    const { dir, files } = server;
    const data = join(dir, 'data');
    const socket = join(dir, 'mariadb.sock');
    await run(
      ...server.asServerUser('/usr/bin/mariadb-install-db', [
        '--no-defaults',
        `--datadir=${data}`,
        '--auth-root-authentication-method=normal',
        '--skip-test-db',
        '--skip-name-resolve',
      ]),
      { cwd: dir },
    );
    const port = await freePort();
    const [command, args] = server.asServerUser('/usr/sbin/mariadbd', [
      '--no-defaults',
      `--datadir=${data}`,
      `--socket=${socket}`,
      `--pid-file=${join(dir, 'mariadb.pid')}`,
      '--bind-address=127.0.0.1',
      `--port=${port}`,
      `--ssl-cert=${files.cert}`,
      `--ssl-key=${files.key}`,
      `--ssl-ca=${files.ca}`,
      '--require-secure-transport=ON',
      '--skip-name-resolve',
      '--skip-log-bin',
      '--innodb-buffer-pool-size=32M',
      '--innodb-flush-log-at-trx-commit=0',
    ]);
    const mariadbd = supervisor.start({
      name: 'mariadb',
      command,
      args,
      logFile: join(dir, 'mariadb.log'),
      cwd: dir,
    });
    started.process = mariadbd;
    const root = () => mysql.createConnection({ socketPath: socket, user: 'root' });
    await waitFor(
      async () => {
        const connection = await root();
        await connection.end();
        return true;
      },
      { timeoutMs: 60_000, description: `MariaDB at ${socket}`, giveUp: () => exitedWithLog(mariadbd) },
    );
    const password = randomBytes(18).toString('base64url');
    const connection = await root();
    try {
      // Root stays on the socket only; anonymous users and root over TCP (without a password) go.
      await connection.query(
        "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host <> 'localhost')",
      );
      await connection.query('FLUSH PRIVILEGES');
      await connection.query(`CREATE USER '${ADMINISTRATOR}'@'%' IDENTIFIED BY ? REQUIRE SSL`, [password]);
      await connection.query(
        `CREATE USER '${CERTIFICATE_ADMINISTRATOR}'@'%' REQUIRE SUBJECT '/CN=${CERTIFICATE_ADMINISTRATOR}'`,
      );
      for (const user of [ADMINISTRATOR, CERTIFICATE_ADMINISTRATOR]) {
        await connection.query(`GRANT ALL PRIVILEGES ON *.* TO '${user}'@'%' WITH GRANT OPTION`);
      }
    } finally {
      await connection.end();
    }
    const endpoint = `127.0.0.1:${port}`;
    const tls = { endpoints: [endpoint], caCertificatePem: server.ca.certificatePem };
    return {
      endpoint,
      ca: server.ca,
      administrator: { ...tls, username: ADMINISTRATOR, password },
      certificateAdministrator: {
        ...tls,
        clientCertificatePem: server.client.certificatePem,
        clientKeyPem: server.client.privateKeyPem,
      },
      root,
      processes: async () => [mariadbd.pid, ...(await childrenOf(mariadbd.pid))],
      dir,
      // SIGTERM is MariaDB's normal shutdown.
      stop: () => stopServer(supervisor, mariadbd, dir, 'SIGTERM'),
    };
  });
}
