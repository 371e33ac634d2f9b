import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataStoreDriver } from '../../api/v1alpha1/datastore.ts';
import { API_VERSION } from '../../api/v1alpha1/group-version.ts';
import { allowTraversal, type ServerUser } from '../../datastore/server-user.ts';
import type { SqlServerOptions } from '../../datastore/sql/server.ts';
import { KAMAJI_NAMESPACE } from '../kamaji-install.ts';
import type { LocalDatastoreContext, LocalDatastoreObjects } from './local-datastore.ts';
import { serverPki, storedOnce } from './pki.ts';

/** The user a local SQL DataStore connects as (basicAuth): the server's administrator. */
export const SQL_ADMINISTRATOR = 'kamaji_admin';

const base64 = (text: string) => Buffer.from(text).toString('base64');

/**
 * A SQL server as a DataStore: its CA and the administrator's user name and password in a Secret in kamaji-system,
 * referenced by key (TLS with the server's CA, basicAuth), as upstream's samples do.
 */
export function sqlDataStoreObjects(
  name: string,
  driver: DataStoreDriver,
  endpoint: string,
  caCertificatePem: string,
  administrator: { username: string; password: string },
): LocalDatastoreObjects {
  const secretName = `${name}-datastore-credentials`;
  const reference = (keyPath: string) => ({
    secretReference: { name: secretName, namespace: KAMAJI_NAMESPACE, keyPath },
  });
  return {
    secret: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: secretName, namespace: KAMAJI_NAMESPACE },
      type: 'Opaque',
      data: {
        'ca.crt': base64(caCertificatePem),
        username: base64(administrator.username),
        password: base64(administrator.password),
      },
    },
    dataStore: {
      apiVersion: API_VERSION,
      kind: 'DataStore',
      metadata: { name },
      spec: {
        driver,
        endpoints: [endpoint],
        tlsConfig: { certificateAuthority: { certificate: reference('ca.crt') } },
        basicAuth: { username: reference('username'), password: reference('password') },
      },
    },
  };
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
    await allowTraversal(context.box.layout.root, serverDir);
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
