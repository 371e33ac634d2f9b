import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Etcd3 } from 'etcd3';
import { createCertificateAuthority, issueCertificate } from '../../pki/certificates.ts';
import { freePort } from '../../process/ports.ts';
import { waitFor } from '../../util/wait.ts';
import { connectEtcd } from '../etcd/connection.ts';

/** The kine binary: `KAMAJI_KINE_BINARY` (the operator image and the CLI set it), else `kine` on PATH. */
export function defaultKineBinary(): string {
  return process.env.KAMAJI_KINE_BINARY || 'kine';
}

export interface KineGatewayOptions {
  binary: string;
  /**
   * kine's storage endpoint, with the tenant's credentials: passed through the environment, never argv. Given the
   * gateway's private directory, where `files` are written (a NATS creds file the endpoint names).
   */
  endpoint: (dir: string) => string;
  /** Written into the gateway's directory (mode 0600) before kine starts, removed with it. */
  files?: Readonly<Record<string, string>>;
  /** The CA that signed the datastore server's certificate. */
  datastoreCaPem: string;
  startTimeoutMs?: number;
}

export interface KineGateway {
  client: Etcd3;
  /** `127.0.0.1:port`. */
  address: string;
  /** The throwaway CA its serving certificate is from (and the only one its clients may hold a certificate of). */
  caCertificatePem: string;
  pid: number;
  close(): Promise<void>;
}

const STOP_GRACE_MS = 5_000;
const LOG_LINES_KEPT = 20;

/**
 * A private kine in front of one tenant's database, for as long as a copy takes: it listens on a free loopback port
 * and answers only the holder of a client certificate from a CA made for this gateway alone and dropped with it,
 * so nothing else on the host reaches the tenant's data through it.
 */
export async function startKineGateway(options: KineGatewayOptions): Promise<KineGateway> {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-kine-'));
  let child: ChildProcess | undefined;
  let client: Etcd3 | undefined;
  try {
    const ca = await createCertificateAuthority('kamaji-keyspace-gateway', { validityDays: 1 });
    const [server, holder] = await Promise.all([
      issueCertificate(ca, {
        commonName: 'kine',
        subjectAltNames: ['127.0.0.1'],
        usages: ['serverAuth'],
        validityDays: 1,
      }),
      issueCertificate(ca, { commonName: 'kamaji', usages: ['clientAuth'], validityDays: 1 }),
    ]);
    const files = {
      'gateway-ca.crt': ca.certificatePem,
      'server.crt': server.certificatePem,
      'server.key': server.privateKeyPem,
      'datastore-ca.crt': options.datastoreCaPem,
      ...options.files,
    };
    for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content, { mode: 0o600 });
    const port = await freePort();
    const log: string[] = [];
    child = spawn(
      options.binary,
      [
        `--listen-address=127.0.0.1:${port}`,
        `--server-cert-file=${join(dir, 'server.crt')}`,
        `--server-key-file=${join(dir, 'server.key')}`,
        `--trusted-ca-file=${join(dir, 'gateway-ca.crt')}`,
        `--ca-file=${join(dir, 'datastore-ca.crt')}`,
        '--metrics-bind-address=0',
      ],
      { env: { ...process.env, KINE_ENDPOINT: options.endpoint(dir) }, stdio: ['ignore', 'ignore', 'pipe'] },
    );
    const started = child;
    const exited = once(started, 'exit').then(([code, signal]) => `kine exited (${signal ?? code})`);
    const spawnFailed = once(started, 'error').then(([error]) => `kine could not start: ${(error as Error).message}`);
    started.stderr?.on('data', (chunk: Buffer) => {
      log.push(...chunk.toString().split('\n').filter(Boolean));
      log.splice(0, Math.max(0, log.length - LOG_LINES_KEPT));
    });
    let gone: string | undefined;
    void Promise.race([exited, spawnFailed]).then((why) => {
      gone = why;
    });
    const giveUp = async () => gone && `${gone}: ${log.join(' | ') || 'no output'}`;
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    // The port first: a gRPC client that finds nothing listening backs off for seconds before it tries again.
    await waitFor(() => listening(port), { timeoutMs, description: 'the kine gateway to listen', giveUp });
    const etcd = connectEtcd({
      endpoints: [`127.0.0.1:${port}`],
      caCertificatePem: ca.certificatePem,
      clientCertificatePem: holder.certificatePem,
      clientKeyPem: holder.privateKeyPem,
    });
    client = etcd;
    await waitFor(() => etcd.kv.range({ key: Buffer.from('/') }).then(() => true), {
      timeoutMs,
      description: 'the kine gateway to answer',
      giveUp,
    });
    return {
      client: etcd,
      address: `127.0.0.1:${port}`,
      caCertificatePem: ca.certificatePem,
      pid: started.pid ?? 0,
      close: async () => {
        etcd.close();
        await stop(started);
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    client?.close();
    if (child) await stop(child);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function listening(port: number): Promise<true | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(undefined));
  });
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
}
