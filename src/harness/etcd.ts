import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { enableAuthentication } from '../datastore/etcd/access.ts';
import { connectEtcd, type EtcdConnection } from '../datastore/etcd/connection.ts';
import type { CertificateAndKey } from '../pki/certificates.ts';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';

export interface EtcdLayout {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
}

/** etcd serving TLS on loopback and accepting only clients with a certificate signed by its CA. */
export function etcdArgs(layout: EtcdLayout): string[] {
  const client = `https://127.0.0.1:${layout.clientPort}`;
  const peer = `http://127.0.0.1:${layout.peerPort}`;
  return [
    `--name=${layout.name}`,
    `--data-dir=${layout.dataDir}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=${layout.name}=${peer}`,
    '--initial-cluster-state=new',
    `--cert-file=${layout.certFile}`,
    `--key-file=${layout.keyFile}`,
    `--trusted-ca-file=${layout.trustedCaFile}`,
    '--client-cert-auth=true',
    '--log-level=warn',
  ];
}

export interface RunningEtcd {
  process: SupervisedProcess;
  endpoint: string;
  /** Connection as the `root` user (client certificate CN=root). */
  root: EtcdConnection;
}

export interface EtcdStartOptions {
  supervisor: Supervisor;
  binary: string;
  dir: string;
  clientPort: number;
  peerPort: number;
  ca: CertificateAndKey;
  server: CertificateAndKey;
  rootClient: CertificateAndKey;
}

const READY_TIMEOUT_MS = 30_000;

/** Starts etcd, waits until it answers, and enables authentication with a certificate-only root user. */
export async function startEtcd(options: EtcdStartOptions): Promise<RunningEtcd> {
  const dataDir = join(options.dir, 'data');
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const files = {
    certFile: join(options.dir, 'server.crt'),
    keyFile: join(options.dir, 'server.key'),
    trustedCaFile: join(options.dir, 'ca.crt'),
  };
  await writeFile(files.certFile, options.server.certificatePem);
  await writeFile(files.keyFile, options.server.privateKeyPem, { mode: 0o600 });
  await writeFile(files.trustedCaFile, options.ca.certificatePem);
  const etcd = options.supervisor.start({
    name: 'etcd',
    command: options.binary,
    args: etcdArgs({ name: 'etcd', dataDir, clientPort: options.clientPort, peerPort: options.peerPort, ...files }),
    logFile: join(options.dir, 'etcd.log'),
  });
  const endpoint = `127.0.0.1:${options.clientPort}`;
  const root: EtcdConnection = {
    endpoints: [endpoint],
    caCertificatePem: options.ca.certificatePem,
    clientCertificatePem: options.rootClient.certificatePem,
    clientKeyPem: options.rootClient.privateKeyPem,
  };
  const client = connectEtcd(root);
  try {
    await waitFor(() => client.maintenance.status(), {
      timeoutMs: READY_TIMEOUT_MS,
      description: `etcd at ${endpoint}`,
      giveUp: () => exitedWithLog(etcd),
    });
    await enableAuthentication(client);
  } finally {
    client.close();
  }
  return { process: etcd, endpoint, root };
}
