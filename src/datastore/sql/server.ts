import type { ProcessSpec, SupervisedProcess } from '../../process/supervisor.ts';
import type { ServerUser } from '../server-user.ts';

/** What starting a local PostgreSQL or MariaDB server takes (src/datastore/{postgresql,mysql}/server.ts). */
export interface SqlServerOptions {
  /** The server's directory, owned by its OS user: its data (`data/`) and files live here. */
  dir: string;
  user: ServerUser;
  /** The one address it listens on (TLS only). */
  listenAddress: string;
  port: number;
  /** PEM files the server reads, given to its OS user: its certificate and key, and the CA of client certificates. */
  tls: { cert: string; key: string; ca: string };
  /** The CA that signed the server's certificate, to verify it when connecting. */
  caCertificatePem: string;
  /** How to start the process (supervised, in a network namespace, ...). */
  launch: (spec: ProcessSpec) => SupervisedProcess | Promise<SupervisedProcess>;
  /** Server settings beyond the ones that make it safe (e.g. fsync off in tests). */
  settings?: Readonly<Record<string, string>>;
}

export interface RunningSqlServer<Admin> {
  process: SupervisedProcess;
  endpoint: string;
  administrator: Admin;
}

/** How long a server may take to answer after its start (a first start initialises its data first). */
export const SQL_SERVER_READY_TIMEOUT_MS = 90_000;
