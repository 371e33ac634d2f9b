import { randomBytes } from 'node:crypto';
import type mysql from 'mysql2/promise';
import type { MysqlConnection } from '../../src/datastore/mysql/connection.ts';
import { MARIADB_INSTALL_DB, MARIADB_OS_USER, MARIADBD, startMariadb } from '../../src/datastore/mysql/server.ts';
import type { CertificateAndKey } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import type { SupervisedProcess, Supervisor } from '../../src/process/supervisor.ts';
import { childrenOf, orCleanUp, serverDirectory, stopServer } from './database-server.ts';

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
 * A MariaDB server of its own in a temporary directory (`startMariadb`, as `kamaji up` runs it), on a free loopback
 * port, with a second administrator authenticated by its client certificate.
 */
export async function startTestMariadb(supervisor: Supervisor): Promise<TestMariadb> {
  const server = await serverDirectory('mariadb', MARIADB_OS_USER, CERTIFICATE_ADMINISTRATOR, [
    { path: MARIADB_INSTALL_DB, package: 'mariadb-server' },
    { path: MARIADBD, package: 'mariadb-server' },
  ]);
  const started: { process?: SupervisedProcess } = {};
  return orCleanUp(supervisor, server.dir, started, async () => {
    const running = await startMariadb({
      dir: server.dir,
      user: server.user,
      listenAddress: '127.0.0.1',
      port: await freePort(),
      tls: server.files,
      caCertificatePem: server.ca.certificatePem,
      administrator: { username: ADMINISTRATOR, password: randomBytes(18).toString('base64url') },
      launch: (spec) => {
        started.process = supervisor.start(spec);
        return started.process;
      },
      settings: { 'innodb-buffer-pool-size': '32M', 'innodb-flush-log-at-trx-commit': '0' },
    });
    const connection = await running.root();
    try {
      await connection.query(
        `CREATE USER '${CERTIFICATE_ADMINISTRATOR}'@'%' REQUIRE SUBJECT '/CN=${CERTIFICATE_ADMINISTRATOR}'`,
      );
      await connection.query(`GRANT ALL PRIVILEGES ON *.* TO '${CERTIFICATE_ADMINISTRATOR}'@'%' WITH GRANT OPTION`);
    } finally {
      await connection.end();
    }
    const mariadbd = running.process;
    return {
      endpoint: running.endpoint,
      ca: server.ca,
      administrator: running.administrator,
      certificateAdministrator: {
        endpoints: [running.endpoint],
        caCertificatePem: server.ca.certificatePem,
        clientCertificatePem: server.client.certificatePem,
        clientKeyPem: server.client.privateKeyPem,
      },
      root: running.root,
      processes: async () => [mariadbd.pid, ...(await childrenOf(mariadbd.pid))],
      dir: server.dir,
      // SIGTERM is MariaDB's normal shutdown.
      stop: () => stopServer(supervisor, mariadbd, server.dir, 'SIGTERM'),
    };
  });
}
