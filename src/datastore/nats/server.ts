import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificateAndKey } from '../../pki/certificates.ts';
import { exitedWithLog, type ProcessSpec, type SupervisedProcess } from '../../process/supervisor.ts';
import { waitFor } from '../../util/wait.ts';
import { NatsOperator } from './accounts.ts';
import { connectNats, type NatsConnection } from './connection.ts';

/** The NATS client port. */
export const NATS_PORT = 4222;

export interface NatsServerLayout {
  host: string;
  port: number;
  /** JetStream's storage. */
  storeDir: string;
  /** The account resolver's JWTs. */
  resolverDir: string;
  certFile: string;
  keyFile: string;
}

/**
 * nats-server's configuration in operator mode: every client logs in with a user JWT of an account the operator
 * signed; accounts come and go through the full resolver (pushed and deleted by the system account); TLS only.
 */
export function natsServerConfig(layout: NatsServerLayout, operator: NatsOperator, operatorName: string): string {
  const system = operator.systemAccount().getPublicKey();
  return [
    `listen: ${quote(`${layout.host}:${layout.port}`)}`,
    `server_name: ${quote(operatorName)}`,
    `operator: ${quote(operator.operatorJwt(operatorName))}`,
    `system_account: ${quote(system)}`,
    `resolver: { type: full, dir: ${quote(layout.resolverDir)}, allow_delete: true, hard_delete: true }`,
    `resolver_preload: { ${system}: ${quote(operator.systemAccountJwt())} }`,
    `jetstream: { store_dir: ${quote(layout.storeDir)} }`,
    `tls: { cert_file: ${quote(layout.certFile)}, key_file: ${quote(layout.keyFile)}, timeout: 5 }`,
    '',
  ].join('\n');
}

function quote(value: string): string {
  return JSON.stringify(value);
}

export interface NatsStartOptions {
  binary: string;
  /** How to start the process: under a supervisor, or inside a network namespace. */
  launch: (spec: ProcessSpec) => SupervisedProcess | Promise<SupervisedProcess>;
  dir: string;
  /** Where clients reach it; 127.0.0.1 by default. */
  host?: string;
  port: number;
  ca: CertificateAndKey;
  server: CertificateAndKey;
  operatorSeed: string;
  /** The operator's and the server's name. */
  name?: string;
}

export interface RunningNats {
  process: SupervisedProcess;
  endpoint: string;
  connection: NatsConnection;
  /** Where JetStream keeps each account's streams (`<storeDir>/jetstream/<account>`). */
  storeDir: string;
}

const READY_TIMEOUT_MS = 30_000;

/** Starts nats-server and waits until the system account can log in. */
export async function startNatsServer(options: NatsStartOptions): Promise<RunningNats> {
  const host = options.host ?? '127.0.0.1';
  const layout: NatsServerLayout = {
    host,
    port: options.port,
    storeDir: join(options.dir, 'jetstream'),
    resolverDir: join(options.dir, 'accounts'),
    certFile: join(options.dir, 'server.crt'),
    keyFile: join(options.dir, 'server.key'),
  };
  await mkdir(layout.storeDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.resolverDir, { recursive: true, mode: 0o700 });
  await writeFile(layout.certFile, options.server.certificatePem);
  await writeFile(layout.keyFile, options.server.privateKeyPem, { mode: 0o600 });
  const operator = new NatsOperator(options.operatorSeed);
  const configFile = join(options.dir, 'nats-server.conf');
  await writeFile(configFile, natsServerConfig(layout, operator, options.name ?? 'kamaji'), { mode: 0o600 });
  const nats = await options.launch({
    name: 'nats-server',
    command: options.binary,
    args: ['--config', configFile],
    logFile: join(options.dir, 'nats-server.log'),
  });
  const endpoint = `${host}:${options.port}`;
  const connection: NatsConnection = {
    endpoints: [endpoint],
    caCertificatePem: options.ca.certificatePem,
    operatorSeed: options.operatorSeed,
  };
  const systemUser = operator.serviceCredentials(operator.systemAccount(), 'kamaji-probe');
  await waitFor(
    async () => {
      await (await connectNats(connection, systemUser, 'kamaji-probe')).close();
      return true;
    },
    {
      timeoutMs: READY_TIMEOUT_MS,
      description: `nats-server at ${endpoint}`,
      giveUp: () => exitedWithLog(nats),
    },
  );
  return { process: nats, endpoint, connection, storeDir: layout.storeDir };
}
