import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EtcdConnection } from '../../../src/datastore/etcd/connection.ts';
import { startEtcd } from '../../../src/datastore/etcd/server.ts';
import {
  type CertificateAndKey,
  createCertificateAuthority,
  createKeyPair,
  issueCertificate,
} from '../../../src/pki/certificates.ts';
import { buildKubeconfig, kubeconfigToYaml } from '../../../src/pki/kubeconfig.ts';
import { freePort } from '../../../src/process/ports.ts';
import { Supervisor, tailFile } from '../../../src/process/supervisor.ts';
import { ensureComponents } from '../../../src/toolchain/ensure.ts';
import { startKubeApiserver } from './kube-apiserver.ts';

/** A real etcd (TLS, client-certificate auth, authentication on) and a real kube-apiserver on loopback. */
export interface ControlPlaneHarness {
  dir: string;
  apiserverUrl: string;
  kubeconfigPath: string;
  kubeconfigYaml: string;
  etcd: {
    endpoint: string;
    ca: CertificateAndKey;
    /** The root user's connection. */
    root: EtcdConnection;
  };
  /** A connection for an etcd user authenticated by a fresh client certificate whose CN is `user`. */
  etcdConnectionAs(user: string): Promise<EtcdConnection>;
  /** Every pid the harness started, for leak checks. */
  pids(): readonly number[];
  /** The last lines of every component's log, for a failing test's output. */
  logTails(lines?: number): Promise<string>;
  stop(): Promise<void>;
}

const VALIDITY_DAYS = 1;

export interface HarnessOptions {
  /** Keep the work directory after stop (for debugging); also set by KAMAJI_KEEP_HARNESS=1. */
  keepDir?: boolean;
}

export async function startControlPlane(options: HarnessOptions = {}): Promise<ControlPlaneHarness> {
  const binaries = await ensureComponents(['etcd', 'kube-apiserver']);
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-harness-'));
  const supervisor = new Supervisor();
  const keepDir = options.keepDir ?? process.env.KAMAJI_KEEP_HARNESS === '1';
  supervisor.onStopped(() => {
    if (!keepDir) rmSync(dir, { recursive: true, force: true });
  });
  const logFiles: string[] = [];
  try {
    const etcdCa = await createCertificateAuthority('etcd-ca', { validityDays: VALIDITY_DAYS });
    const kubernetesCa = await createCertificateAuthority('kubernetes', { validityDays: VALIDITY_DAYS });
    const [etcdServer, etcdRoot, serving, admin, serviceAccount] = await Promise.all([
      issueCertificate(etcdCa, {
        commonName: 'etcd',
        subjectAltNames: ['localhost', '127.0.0.1'],
        usages: ['serverAuth', 'clientAuth'],
        validityDays: VALIDITY_DAYS,
      }),
      issueCertificate(etcdCa, { commonName: 'root', usages: ['clientAuth'], validityDays: VALIDITY_DAYS }),
      issueCertificate(kubernetesCa, {
        commonName: 'kube-apiserver',
        subjectAltNames: [
          'localhost',
          '127.0.0.1',
          'kubernetes',
          'kubernetes.default',
          'kubernetes.default.svc',
          'kubernetes.default.svc.cluster.local',
          '10.96.0.1',
        ],
        usages: ['serverAuth'],
        validityDays: VALIDITY_DAYS,
      }),
      issueCertificate(kubernetesCa, {
        commonName: 'kubernetes-admin',
        organizations: ['system:masters'],
        usages: ['clientAuth'],
        validityDays: VALIDITY_DAYS,
      }),
      createKeyPair(),
    ]);
    const etcdDir = join(dir, 'etcd');
    const apiserverDir = join(dir, 'kube-apiserver');
    await Promise.all([mkdir(etcdDir), mkdir(apiserverDir)]);
    const etcd = await startEtcd({
      supervisor,
      binary: binaries.get('etcd')!.path,
      dir: etcdDir,
      clientPort: await freePort(),
      peerPort: await freePort(),
      ca: etcdCa,
      server: etcdServer,
      rootClient: etcdRoot,
    });
    logFiles.push(etcd.process.logFile);
    const apiserverLog = join(apiserverDir, 'kube-apiserver.log');
    logFiles.push(apiserverLog);
    const apiserver = await startKubeApiserver({
      supervisor,
      binary: binaries.get('kube-apiserver')!.path,
      dir: apiserverDir,
      securePort: await freePort(),
      ca: kubernetesCa,
      serving,
      serviceAccount,
      etcd: etcd.root,
      admin,
    });
    const kubeconfigYaml = kubeconfigToYaml(
      buildKubeconfig({
        clusterName: 'harness',
        server: apiserver.url,
        caCertificatePem: kubernetesCa.certificatePem,
        userName: 'kubernetes-admin',
        clientCertificatePem: admin.certificatePem,
        clientKeyPem: admin.privateKeyPem,
      }),
    );
    const kubeconfigPath = join(dir, 'admin.kubeconfig');
    await writeFile(kubeconfigPath, kubeconfigYaml, { mode: 0o600 });
    return {
      dir,
      apiserverUrl: apiserver.url,
      kubeconfigPath,
      kubeconfigYaml,
      etcd: { endpoint: etcd.endpoint, ca: etcdCa, root: etcd.root },
      async etcdConnectionAs(user) {
        const client = await issueCertificate(etcdCa, {
          commonName: user,
          usages: ['clientAuth'],
          validityDays: VALIDITY_DAYS,
        });
        return {
          endpoints: [etcd.endpoint],
          caCertificatePem: etcdCa.certificatePem,
          clientCertificatePem: client.certificatePem,
          clientKeyPem: client.privateKeyPem,
        };
      },
      pids: () => supervisor.pids(),
      logTails: (lines = 30) => describeLogs(logFiles, lines),
      stop: () => supervisor.stopAll(),
    };
  } catch (error) {
    await supervisor.stopAll();
    throw error;
  }
}

async function describeLogs(files: readonly string[], lines: number): Promise<string> {
  const tails = await Promise.all(files.map(async (file) => `==> ${file} <==\n${await tailFile(file, lines)}`));
  return tails.join('\n\n');
}
