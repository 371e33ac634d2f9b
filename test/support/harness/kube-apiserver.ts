import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { EtcdConnection } from '../../../src/datastore/etcd/connection.ts';
import type { CertificateAndKey } from '../../../src/pki/certificates.ts';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../../../src/process/supervisor.ts';
import { httpsGet } from '../../../src/util/https.ts';
import { waitFor } from '../../../src/util/wait.ts';

export interface KubeApiserverLayout {
  securePort: number;
  certDir: string;
  etcdServers: readonly string[];
  etcdPrefix: string;
  serviceClusterIpRange: string;
  files: {
    caCert: string;
    servingCert: string;
    servingKey: string;
    serviceAccountPublicKey: string;
    serviceAccountPrivateKey: string;
    etcdCa: string;
    etcdCert: string;
    etcdKey: string;
  };
}

/** A kube-apiserver on loopback that authenticates clients by certificate and authorises with RBAC. */
export function kubeApiserverArgs(layout: KubeApiserverLayout): string[] {
  return [
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${layout.securePort}`,
    `--cert-dir=${layout.certDir}`,
    `--etcd-servers=${layout.etcdServers.map((endpoint) => `https://${endpoint}`).join(',')}`,
    `--etcd-prefix=${layout.etcdPrefix}`,
    `--etcd-cafile=${layout.files.etcdCa}`,
    `--etcd-certfile=${layout.files.etcdCert}`,
    `--etcd-keyfile=${layout.files.etcdKey}`,
    `--client-ca-file=${layout.files.caCert}`,
    `--tls-cert-file=${layout.files.servingCert}`,
    `--tls-private-key-file=${layout.files.servingKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${layout.files.serviceAccountPublicKey}`,
    `--service-account-signing-key-file=${layout.files.serviceAccountPrivateKey}`,
    `--service-cluster-ip-range=${layout.serviceClusterIpRange}`,
    '--authorization-mode=Node,RBAC',
    '--allow-privileged=true',
    '--profiling=false',
  ];
}

export interface KubeApiserverStartOptions {
  supervisor: Supervisor;
  binary: string;
  dir: string;
  securePort: number;
  ca: CertificateAndKey;
  serving: CertificateAndKey;
  serviceAccount: { privateKeyPem: string; publicKeyPem: string };
  etcd: EtcdConnection;
  /** Used to probe /readyz. */
  admin: CertificateAndKey;
}

export interface RunningKubeApiserver {
  process: SupervisedProcess;
  url: string;
}

const READY_TIMEOUT_MS = 60_000;

export async function startKubeApiserver(options: KubeApiserverStartOptions): Promise<RunningKubeApiserver> {
  const files = {
    caCert: join(options.dir, 'ca.crt'),
    servingCert: join(options.dir, 'apiserver.crt'),
    servingKey: join(options.dir, 'apiserver.key'),
    serviceAccountPublicKey: join(options.dir, 'sa.pub'),
    serviceAccountPrivateKey: join(options.dir, 'sa.key'),
    etcdCa: join(options.dir, 'etcd-ca.crt'),
    etcdCert: join(options.dir, 'apiserver-etcd-client.crt'),
    etcdKey: join(options.dir, 'apiserver-etcd-client.key'),
  };
  const certDir = join(options.dir, 'certs');
  await mkdir(certDir, { recursive: true });
  const contents: [string, string][] = [
    [files.caCert, options.ca.certificatePem],
    [files.servingCert, options.serving.certificatePem],
    [files.servingKey, options.serving.privateKeyPem],
    [files.serviceAccountPublicKey, options.serviceAccount.publicKeyPem],
    [files.serviceAccountPrivateKey, options.serviceAccount.privateKeyPem],
    [files.etcdCa, options.etcd.caCertificatePem],
    [files.etcdCert, options.etcd.clientCertificatePem ?? ''],
    [files.etcdKey, options.etcd.clientKeyPem ?? ''],
  ];
  await Promise.all(contents.map(([path, content]) => writeFile(path, content, { mode: 0o600 })));
  const apiserver = options.supervisor.start({
    name: 'kube-apiserver',
    command: options.binary,
    args: kubeApiserverArgs({
      securePort: options.securePort,
      certDir,
      etcdServers: options.etcd.endpoints,
      etcdPrefix: '/registry',
      serviceClusterIpRange: '10.96.0.0/16',
      files,
    }),
    logFile: join(options.dir, 'kube-apiserver.log'),
  });
  const url = `https://127.0.0.1:${options.securePort}`;
  const tls = {
    caCertificatePem: options.ca.certificatePem,
    clientCertificatePem: options.admin.certificatePem,
    clientKeyPem: options.admin.privateKeyPem,
  };
  await waitFor(
    async () => {
      const response = await httpsGet(`${url}/readyz`, tls);
      if (response.status === 200) return true;
      throw new Error(`/readyz answered ${response.status}: ${response.body.slice(-300)}`);
    },
    {
      timeoutMs: READY_TIMEOUT_MS,
      intervalMs: 200,
      description: `kube-apiserver ${url}/readyz`,
      giveUp: () => exitedWithLog(apiserver),
    },
  );
  return { process: apiserver, url };
}
