import { MYSQL_PORT } from '../../datastore/mysql/connection.ts';
import { MARIADB_OS_USER, startMariadb } from '../../datastore/mysql/server.ts';
import { serverUser } from '../../datastore/server-user.ts';
import type { LocalDatastoreServer } from './local-datastore.ts';
import { basicAuthDataStoreObjects, SQL_ADMINISTRATOR, sqlServerSetup } from './sql.ts';

/**
 * Debian's MariaDB (the MySQL protocol; the DataStore's driver is `MySQL`), TLS required, root on its Unix socket
 * only; the DataStore's user has every privilege WITH GRANT OPTION.
 */
export const mysqlServer: LocalDatastoreServer = {
  driver: 'MySQL',
  description: 'MariaDB (MySQL protocol; TLS required)',
  firstPort: MYSQL_PORT,
  async ensure(context) {
    const { record } = context;
    const { options, password } = await sqlServerSetup(context, await serverUser(MARIADB_OS_USER));
    const administrator = { username: SQL_ADMINISTRATOR, password };
    if (!context.running) {
      await startMariadb({
        ...options,
        administrator,
        launch: (spec) => context.launch(spec),
        settings: { 'innodb-buffer-pool-size': '64M' },
      });
    }
    const endpoint = `${context.address}:${record.port}`;
    return basicAuthDataStoreObjects(record.name, 'MySQL', endpoint, options.caCertificatePem, administrator);
  },
};
