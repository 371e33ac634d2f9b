import { POSTGRESQL_PORT } from '../../datastore/postgresql/connection.ts';
import { POSTGRESQL_OS_USER, startPostgres } from '../../datastore/postgresql/server.ts';
import { serverUser } from '../../datastore/server-user.ts';
import type { LocalDatastoreServer } from './local-datastore.ts';
import { basicAuthDataStoreObjects, SQL_ADMINISTRATOR, sqlServerSetup } from './sql.ts';

/** Debian's PostgreSQL 15, TLS only, scram-sha-256; the DataStore's user is its bootstrap superuser. */
export const postgresqlServer: LocalDatastoreServer = {
  driver: 'PostgreSQL',
  description: 'PostgreSQL 15 (TLS only, scram-sha-256)',
  firstPort: POSTGRESQL_PORT,
  async ensure(context) {
    const { record } = context;
    const { options, password } = await sqlServerSetup(context, await serverUser(POSTGRESQL_OS_USER));
    const administrator = { username: SQL_ADMINISTRATOR, password };
    if (!context.running) {
      await startPostgres({ ...options, superuser: administrator, launch: (spec) => context.launch(spec) });
    }
    const endpoint = `${context.address}:${record.port}`;
    return basicAuthDataStoreObjects(record.name, 'PostgreSQL', endpoint, options.caCertificatePem, administrator);
  },
};
