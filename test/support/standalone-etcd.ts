import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Secret } from '@kubernetes/client-node';
import type { DataStore } from '../../src/api/v1alpha1/datastore.ts';
import { dataStoreObjects } from '../../src/cluster/kamaji-install.ts';
import { type RunningEtcd, startEtcd } from '../../src/datastore/etcd/server.ts';
import { type CertificateAndKey, createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import type { Supervisor } from '../../src/process/supervisor.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';

/**
 * An etcd of its own for one DataStore (beside the harness etcd), which a test can stop and start again on the
 * same port and data: a datastore outage, for real.
 */
export interface StandaloneEtcd {
  endpoint: string;
  /** The DataStore and its credentials Secret, as `kamaji up` writes them. */
  objects: { secret: V1Secret; dataStore: DataStore };
  start(): Promise<RunningEtcd>;
  stop(): Promise<void>;
  /** Stops it and removes its data. */
  remove(): Promise<void>;
}

export async function standaloneEtcd(supervisor: Supervisor, name: string): Promise<StandaloneEtcd> {
  const ca = await createCertificateAuthority(`${name}-etcd-ca`, { validityDays: 1 });
  const [server, root] = await Promise.all([
    issueCertificate(ca, {
      commonName: 'etcd',
      subjectAltNames: ['127.0.0.1'],
      usages: ['serverAuth', 'clientAuth'],
      validityDays: 1,
    }),
    issueCertificate(ca, { commonName: 'root', usages: ['clientAuth'], validityDays: 1 }),
  ]);
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const endpoint = `127.0.0.1:${clientPort}`;
  const dir = await mkdtemp(join(tmpdir(), `kamaji-${name}-etcd-`));
  const objects = dataStoreObjects({ endpoint, ca, root: rootConnection(endpoint, ca, root) }, name);
  let running: RunningEtcd | undefined;
  const stop = async () => {
    if (running) await supervisor.stop(running.process);
    running = undefined;
  };
  return {
    endpoint,
    objects,
    async start() {
      const binary = (await ensureComponent('etcd')).path;
      running = await startEtcd({ supervisor, binary, dir, clientPort, peerPort, ca, server, rootClient: root });
      return running;
    },
    stop,
    async remove() {
      await stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function rootConnection(endpoint: string, ca: CertificateAndKey, root: CertificateAndKey) {
  return {
    endpoints: [endpoint],
    caCertificatePem: ca.certificatePem,
    clientCertificatePem: root.certificatePem,
    clientKeyPem: root.privateKeyPem,
  };
}
