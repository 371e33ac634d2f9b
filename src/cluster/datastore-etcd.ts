import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdConnection } from '../datastore/etcd/connection.ts';
import { startEtcd } from '../datastore/etcd/server.ts';
import { type CertificateAndKey, createCertificateAuthority, issueCertificate } from '../pki/certificates.ts';
import type { Supervisor } from '../process/supervisor.ts';
import { type NodeBox, startInBox } from './node-box.ts';
import { recordedPid } from './pid-files.ts';
import type { StateLayout } from './state.ts';

/** Ports of the shared tenant etcd on the node address; kubeadm's own etcd holds 2379/2380. */
export const DATASTORE_CLIENT_PORT = 23790;
const DATASTORE_PEER_PORT = 23800;
export const DATASTORE_ETCD_PROCESS = 'datastore-etcd';
const CA_DAYS = 3650;
const LEAF_DAYS = 365;

export interface DatastoreEtcd {
  endpoint: string;
  /** The root user's connection (certificate CN=root). */
  root: EtcdConnection;
  /** Signs tenant client certificates; the manager reads it through the DataStore's Secret. */
  ca: CertificateAndKey;
}

interface StoredPki {
  ca: CertificateAndKey;
  server: CertificateAndKey;
  root: CertificateAndKey;
}

function datastoreDir(layout: StateLayout): string {
  return join(layout.root, 'datastore');
}

/** The datastore's certificates, created on first use and kept: its data and its tenants' certificates depend on them. */
async function ensurePki(layout: StateLayout): Promise<StoredPki> {
  const file = join(datastoreDir(layout), 'pki.json');
  const stored = await readFile(file, 'utf8').catch(() => undefined);
  if (stored) return JSON.parse(stored) as StoredPki;
  const ca = await createCertificateAuthority('kamaji-datastore-ca', { validityDays: CA_DAYS });
  const [server, root] = await Promise.all([
    issueCertificate(ca, {
      commonName: 'kamaji-datastore',
      subjectAltNames: [layout.network.nodeAddress, '127.0.0.1', 'localhost'],
      usages: ['serverAuth', 'clientAuth'],
      validityDays: LEAF_DAYS,
    }),
    issueCertificate(ca, { commonName: 'root', usages: ['clientAuth'], validityDays: LEAF_DAYS }),
  ]);
  const pki = { ca, server, root };
  await mkdir(datastoreDir(layout), { recursive: true, mode: 0o700 });
  await writeFile(file, JSON.stringify(pki), { mode: 0o600 });
  return pki;
}

/**
 * The shared etcd that tenants' data lives in: TLS with client certificates, authentication on, one role per
 * tenant. It runs in the node's network namespace on the node address, so tenant API server pods reach it, and so
 * does the manager on the host.
 */
export async function ensureDatastoreEtcd(
  box: NodeBox,
  supervisor: Supervisor,
  binary: string,
): Promise<DatastoreEtcd> {
  const { layout } = box;
  const pki = await ensurePki(layout);
  const endpoint = `${layout.network.nodeAddress}:${DATASTORE_CLIENT_PORT}`;
  const root: EtcdConnection = {
    endpoints: [endpoint],
    caCertificatePem: pki.ca.certificatePem,
    clientCertificatePem: pki.root.certificatePem,
    clientKeyPem: pki.root.privateKeyPem,
  };
  if ((await recordedPid(layout, DATASTORE_ETCD_PROCESS)) === undefined) {
    await startEtcd({
      supervisor,
      binary,
      dir: datastoreDir(layout),
      clientHost: layout.network.nodeAddress,
      clientPort: DATASTORE_CLIENT_PORT,
      peerPort: DATASTORE_PEER_PORT,
      ca: pki.ca,
      server: pki.server,
      rootClient: pki.root,
      launch: (spec) => startInBox(box, supervisor, { ...spec, name: DATASTORE_ETCD_PROCESS }),
    });
  }
  return { endpoint, root, ca: pki.ca };
}
