import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateAndKey } from '../../pki/certificates.ts';
import { exitedWithLog, type ProcessSpec, type SupervisedProcess, type Supervisor } from '../../process/supervisor.ts';
import { waitFor } from '../../util/wait.ts';
import { enableAuthentication } from './access.ts';
import { connectEtcd, type EtcdConnection } from './connection.ts';

export interface EtcdLayout {
  name: string;
  /** The address clients reach it on; peers stay on loopback (a single member). */
  clientHost: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
}

/** etcd serving TLS and accepting only clients with a certificate signed by its CA. */
export function etcdArgs(layout: EtcdLayout): string[] {
  const client = `https://${layout.clientHost}:${layout.clientPort}`;
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

interface EtcdStartCommon {
  binary: string;
  /** Where clients reach it; 127.0.0.1 by default. */
  clientHost?: string;
  dir: string;
  clientPort: number;
  peerPort: number;
  ca: CertificateAndKey;
  server: CertificateAndKey;
  rootClient: CertificateAndKey;
}

/** Started by a supervisor, or by `launch` (e.g. inside a network namespace, or detached). */
export type EtcdStartOptions = EtcdStartCommon &
  ({ supervisor: Supervisor } | { launch: (spec: ProcessSpec) => SupervisedProcess | Promise<SupervisedProcess> });

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
  const clientHost = options.clientHost ?? '127.0.0.1';
  const launch = 'launch' in options ? options.launch : (spec: ProcessSpec) => options.supervisor.start(spec);
  const etcd = await launch({
    name: 'etcd',
    command: options.binary,
    args: etcdArgs({
      name: 'etcd',
      clientHost,
      dataDir,
      clientPort: options.clientPort,
      peerPort: options.peerPort,
      ...files,
    }),
    logFile: join(options.dir, 'etcd.log'),
  });
  const endpoint = `${clientHost}:${options.clientPort}`;
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
