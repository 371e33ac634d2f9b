import { join } from 'node:path';
import type { EtcdConnection } from '../../datastore/etcd/connection.ts';
import { startEtcd } from '../../datastore/etcd/server.ts';
import { ensureComponents } from '../../toolchain/ensure.ts';
import { dataStoreObjects } from '../kamaji-install.ts';
import type { LocalDatastoreServer } from './local-datastore.ts';
import { serverPki } from './pki.ts';

/** The first local etcd's client port on the node address; kubeadm's own etcd holds 2379/2380. */
export const DATASTORE_CLIENT_PORT = 23790;
/** Its peer port, on loopback only (one member), this far above the client port. */
const PEER_PORT_OFFSET = 1000;
const ROOT = 'root';

/**
 * etcd, the toolchain's: TLS with client certificates, authentication on, a certificate-only root user whose
 * certificate the DataStore holds, and the CA key, with which Kamaji signs each tenant's client certificate.
 */
export const etcdServer: LocalDatastoreServer = {
  driver: 'etcd',
  description: 'etcd (TLS, client certificates, auth on)',
  firstPort: DATASTORE_CLIENT_PORT,
  async ensure(context) {
    const { dir, address, record } = context;
    const pki = await serverPki(dir, record.name, address, [ROOT]);
    const rootClient = pki.clients[ROOT];
    if (!rootClient)
      throw new Error(`${join(dir, 'pki.json')} has no ${ROOT} client certificate: remove the datastore`);
    const endpoint = `${address}:${record.port}`;
    if (!context.running) {
      const binary = (await ensureComponents(['etcd'])).get('etcd')?.path ?? 'etcd';
      await startEtcd({
        binary,
        dir: join(dir, 'server'),
        clientHost: address,
        clientPort: record.port,
        peerPort: record.port + PEER_PORT_OFFSET,
        ca: pki.ca,
        server: pki.server,
        rootClient,
        launch: (spec) => context.launch(spec),
      });
    }
    const root: EtcdConnection = {
      endpoints: [endpoint],
      caCertificatePem: pki.ca.certificatePem,
      clientCertificatePem: rootClient.certificatePem,
      clientKeyPem: rootClient.privateKeyPem,
    };
    return dataStoreObjects({ endpoint, root, ca: pki.ca }, record.name);
  },
};
