import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { newOperatorSeed } from '../../datastore/nats/accounts.ts';
import { NATS_PORT, startNatsServer } from '../../datastore/nats/server.ts';
import { ensureComponents } from '../../toolchain/ensure.ts';
import type { LocalDatastoreServer } from './local-datastore.ts';
import { serverPki, storedOnce } from './pki.ts';
import { basicAuthDataStoreObjects } from './sql.ts';

/** The operator's name in its JWT and the DataStore's basicAuth username (informational: the seed authenticates). */
const OPERATOR_NAME = 'kamaji';

/**
 * nats-server, the toolchain's, with JetStream in operator mode: TLS only, every client a user of an account the
 * operator signed. The DataStore holds the operator's seed (basicAuth.password), from which Kamaji derives one
 * account per tenant (docs/datastore-nats.md).
 */
export const natsServer: LocalDatastoreServer = {
  driver: 'NATS',
  description: 'NATS JetStream (TLS only, operator mode: one account per tenant)',
  firstPort: NATS_PORT,
  async ensure(context) {
    const { dir, address, record } = context;
    const pki = await serverPki(dir, record.name, address);
    const { operatorSeed } = await storedOnce(join(dir, 'credentials.json'), async () => ({
      operatorSeed: newOperatorSeed(randomBytes(32)),
    }));
    if (!context.running) {
      const binary = (await ensureComponents(['nats-server'])).get('nats-server')?.path ?? 'nats-server';
      await startNatsServer({
        binary,
        dir: join(dir, 'server'),
        host: address,
        port: record.port,
        ca: pki.ca,
        server: pki.server,
        operatorSeed,
        name: OPERATOR_NAME,
        launch: (spec) => context.launch(spec),
      });
    }
    const endpoint = `${address}:${record.port}`;
    const administrator = { username: OPERATOR_NAME, password: operatorSeed };
    return basicAuthDataStoreObjects(record.name, 'NATS', endpoint, pki.ca.certificatePem, administrator);
  },
};
