import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { missingPackages, type Prerequisite } from '../../src/cluster/prerequisites.ts';
import { type ServerUser, serverUser } from '../../src/datastore/server-user.ts';
import { type CertificateAndKey, createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import type { SupervisedProcess, Supervisor } from '../../src/process/supervisor.ts';
import { SETUP_COMMAND } from './needs-root.ts';

/**
 * What the SQL servers the tests run (PostgreSQL, MariaDB) have in common: a temporary directory owned by the
 * server's OS user (they refuse to run as root), a CA, a server certificate for 127.0.0.1 and a client certificate
 * for the administrator that authenticates by certificate.
 */
export interface ServerDirectory {
  dir: string;
  ca: CertificateAndKey;
  /** The administrator's client certificate (its CN is the user). */
  client: CertificateAndKey;
  files: { cert: string; key: string; ca: string };
  /** The server's OS user, owner of `dir` and the files. */
  user: ServerUser;
}

export async function serverDirectory(
  name: string,
  osUser: string,
  clientCommonName: string,
  /** The server's binaries: a host without them fails here, naming the packages. */
  binaries: readonly Prerequisite[],
): Promise<ServerDirectory> {
  const missing = await missingPackages(binaries);
  if (missing.length > 0) {
    throw new Error(`missing host packages: ${missing.join(' ')}; ${SETUP_COMMAND} as root installs them`);
  }
  const ca = await createCertificateAuthority(`kamaji-test-${name}-ca`, { validityDays: 1 });
  const [server, client] = await Promise.all([
    issueCertificate(ca, { commonName: name, subjectAltNames: ['127.0.0.1'], usages: ['serverAuth'], validityDays: 1 }),
    issueCertificate(ca, { commonName: clientCommonName, usages: ['clientAuth'], validityDays: 1 }),
  ]);
  const dir = await mkdtemp(join(tmpdir(), `kamaji-${name}-`));
  const user = await serverUser(osUser);
  await user.give(dir);
  const files = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key'), ca: join(dir, 'ca.crt') };
  await writeFile(files.cert, server.certificatePem);
  await writeFile(files.key, server.privateKeyPem, { mode: 0o600 });
  await writeFile(files.ca, ca.certificatePem);
  for (const path of Object.values(files)) await user.give(path);
  return { dir, ca, client, files, user };
}

/** The pids whose parent is `pid` (a server's background processes). */
export async function childrenOf(pid: number): Promise<number[]> {
  const children: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const status = await readFile(`/proc/${entry}/status`, 'utf8').catch(() => '');
    if (new RegExp(`^PPid:\\s+${pid}$`, 'm').test(status)) children.push(Number(entry));
  }
  return children;
}

/**
 * Stops a server with its own shutdown signal (PostgreSQL's SIGINT is its fast shutdown), then, if it has not
 * exited within 10 s, the supervisor's SIGTERM to the group and SIGKILL after its grace; removes its directory.
 */
export async function stopServer(
  supervisor: Supervisor,
  server: SupervisedProcess,
  dir: string,
  signal: NodeJS.Signals,
): Promise<void> {
  if (!server.hasExited()) {
    process.kill(server.pid, signal);
    const timeout = new Promise((resolve) => setTimeout(resolve, 10_000).unref());
    await Promise.race([server.exited, timeout]);
    await supervisor.stop(server);
  }
  await rm(dir, { recursive: true, force: true });
}

/**
 * Runs a server's set-up; if it fails, the server it started (recorded in `started.process`) is stopped and its
 * directory removed, so that a failed start leaves nothing either.
 */
export async function orCleanUp<T>(
  supervisor: Supervisor,
  dir: string,
  started: { process?: SupervisedProcess },
  setUp: () => Promise<T>,
): Promise<T> {
  try {
    return await setUp();
  } catch (error) {
    if (started.process) await supervisor.stop(started.process);
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
