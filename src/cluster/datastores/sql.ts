import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataStoreDriver } from '../../api/v1alpha1/datastore.ts';
import { allowTraversal, type ServerUser } from '../../datastore/server-user.ts';
import type { SqlServerOptions } from '../../datastore/sql/server.ts';
import { dataStoreWithSecret } from '../kamaji-install.ts';
import type { LocalDatastoreContext, LocalDatastoreObjects } from './local-datastore.ts';
import { serverPki, storedOnce } from './pki.ts';

/** The user a local SQL DataStore connects as (basicAuth): the server's administrator. */
export const SQL_ADMINISTRATOR = 'kamaji_admin';

/**
 * A server reached over TLS with basicAuth as a DataStore (SQL; NATS, whose "password" is the operator seed): its CA
 * and the administrator's user name and password in its Secret (TLS with the server's CA, basicAuth).
 */
export function basicAuthDataStoreObjects(
  name: string,
  driver: DataStoreDriver,
  endpoint: string,
  caCertificatePem: string,
  administrator: { username: string; password: string },
): LocalDatastoreObjects {
  const data = { 'ca.crt': caCertificatePem, username: administrator.username, password: administrator.password };
  return dataStoreWithSecret(name, `${name}-datastore-credentials`, data, (reference) => ({
    driver,
    endpoints: [endpoint],
    tlsConfig: { certificateAuthority: { certificate: reference('ca.crt') } },
    basicAuth: { username: reference('username'), password: reference('password') },
  }));
}

/**
 * What a local SQL server starts with: its PKI and administrator password (kept in the datastore's directory), and
 * its own directory `server/` given to its OS user with its certificate, key and CA.
 */
export async function sqlServerSetup(
  context: LocalDatastoreContext,
  user: ServerUser,
): Promise<{ options: Omit<SqlServerOptions, 'launch'>; password: string }> {
  const { dir, address, record } = context;
  const pki = await serverPki(dir, record.name, address);
  const { password } = await storedOnce(join(dir, 'credentials.json'), async () => ({
    password: randomBytes(24).toString('base64url'),
  }));
  const serverDir = join(dir, 'server');
  const tls = {
    cert: join(serverDir, 'server.crt'),
    key: join(serverDir, 'server.key'),
    ca: join(serverDir, 'ca.crt'),
  };
  if (!context.running) {
    await mkdir(serverDir, { recursive: true, mode: 0o700 });
    await user.give(serverDir);
    if (user.isOther) await allowTraversal(context.box.layout.root, serverDir, user.name);
    await writeFile(tls.cert, pki.server.certificatePem);
    await writeFile(tls.key, pki.server.privateKeyPem, { mode: 0o600 });
    await writeFile(tls.ca, pki.ca.certificatePem);
    for (const file of Object.values(tls)) await user.give(file);
  }
  return {
    password,
    options: {
      dir: serverDir,
      user,
      listenAddress: address,
      port: record.port,
      tls,
      caCertificatePem: pki.ca.certificatePem,
    },
  };
}
