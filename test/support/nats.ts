import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { newOperatorSeed } from '../../src/datastore/nats/accounts.ts';
import { type RunningNats, startNatsServer } from '../../src/datastore/nats/server.ts';
import { type CertificateAndKey, createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { freePort } from '../../src/process/ports.ts';
import type { ProcessSpec, SupervisedProcess, Supervisor } from '../../src/process/supervisor.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { orCleanUp, stopServer } from './database-server.ts';

/** Runs `attempt`, which must fail; returns its message. */
export async function refusal(attempt: () => Promise<unknown>): Promise<string> {
  try {
    await attempt();
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail('expected a refusal');
}

const BASE58 = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz';

/**
 * The etcd key a key of kine's NATS bucket stands for: kine writes each `/`-separated part in base58 (Bitcoin's
 * alphabet), joined by `.` (NATS's separator); a leading `meta` part marks a key without the leading `/`.
 */
export function kineKeyName(natsKey: string): string {
  const parts = natsKey.split('.');
  const rooted = parts[0] !== 'meta';
  const decoded = (rooted ? parts : parts.slice(1)).map((part) => {
    let value = 0n;
    for (const character of part) value = value * 58n + BigInt(BASE58.indexOf(character));
    const hex = value === 0n ? '' : value.toString(16);
    const bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, 'hex');
    const zeros = part.length - part.replace(/^1+/, '').length;
    const text = Buffer.concat([Buffer.alloc(zeros), bytes]).toString('utf8');
    return text === '/' ? '' : text;
  });
  return `${rooted ? '/' : ''}${decoded.join('/')}`;
}

export interface TestNats extends RunningNats {
  ca: CertificateAndKey;
  dir: string;
  /** Stops the server and starts it again on the same directory and port, as `kamaji down` and `up` do. */
  restart(): Promise<void>;
  /** Shut down (SIGTERM), then the directory removed. */
  stop(): Promise<void>;
}

/**
 * nats-server (the toolchain's) in a temporary directory: operator mode with a fresh operator seed, JetStream,
 * TLS only with a certificate for 127.0.0.1, on a free loopback port.
 */
export async function startTestNats(supervisor: Supervisor): Promise<TestNats> {
  const binary = (await ensureComponent('nats-server')).path;
  const ca = await createCertificateAuthority('kamaji-test-nats-ca', { validityDays: 1 });
  const server = await issueCertificate(ca, {
    commonName: 'nats',
    subjectAltNames: ['127.0.0.1'],
    usages: ['serverAuth'],
    validityDays: 1,
  });
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-nats-'));
  const started: { process?: SupervisedProcess } = {};
  return orCleanUp(supervisor, dir, started, async () => {
    const options = {
      binary,
      launch: (spec: ProcessSpec) => {
        started.process = supervisor.start(spec);
        return started.process;
      },
      dir,
      port: await freePort(),
      ca,
      server,
      operatorSeed: newOperatorSeed(randomBytes(32)),
    };
    const nats: TestNats = {
      ...(await startNatsServer(options)),
      ca,
      dir,
      async restart() {
        await supervisor.stop(nats.process);
        nats.process = (await startNatsServer(options)).process;
      },
      stop: () => stopServer(supervisor, nats.process, dir, 'SIGTERM'),
    };
    return nats;
  });
}
