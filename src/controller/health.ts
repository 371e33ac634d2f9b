import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from './metrics.ts';

export interface HealthCheck {
  name: string;
  /** Undefined when healthy, else what is wrong. */
  check: () => string | undefined;
}

export interface ProbeServerOptions {
  /** `host:port`, `:port` for every interface, `[::1]:port`; port 0 picks a free one. */
  address: string;
  /** Served on /metrics when given. */
  registry?: Registry;
  /** For /healthz (not served when absent): is the process working at all. */
  liveness?: readonly HealthCheck[];
  /**
   * For /readyz (not served when absent). Give it `cachesSynced(...)`, not leadership: a replica waiting for the lease is ready too, or a
   * rolling update could never finish while the old leader holds on.
   */
  readiness?: readonly HealthCheck[];
}

export interface ProbeServer {
  /** `http://host:port` as bound. */
  readonly url: string;
  close(): Promise<void>;
}

export function parseListenAddress(address: string): { host: string | undefined; port: number } {
  const colon = address.lastIndexOf(':');
  if (colon < 0) throw new Error(`listen address ${address} has no port (use host:port or :port)`);
  const port = Number(address.slice(colon + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`listen address ${address}: bad port`);
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host: host || undefined, port };
}

/** Ready once every informer has listed its objects. */
export function cachesSynced(informers: readonly { name: string; hasSynced(): boolean }[]): HealthCheck {
  return {
    name: 'informers-synced',
    check: () => {
      const waiting = informers.filter((informer) => !informer.hasSynced()).map((informer) => informer.name);
      return waiting.length > 0 ? `waiting for ${waiting.join(', ')}` : undefined;
    },
  };
}

/** Serves /metrics, /healthz and /readyz (those it is given); a failing probe answers 500 and names each failing check. */
export async function startProbeServer(options: ProbeServerOptions): Promise<ProbeServer> {
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://probe').pathname;
    if (request.method !== 'GET' && request.method !== 'HEAD') return reply(response, 405, 'method not allowed\n');
    if (path === '/healthz' && options.liveness) return reply(response, ...probe(options.liveness));
    if (path === '/readyz' && options.readiness) return reply(response, ...probe(options.readiness));
    if (path === '/metrics' && options.registry) {
      return reply(response, 200, options.registry.render(), 'text/plain; version=0.0.4; charset=utf-8');
    }
    reply(response, 404, 'not found\n');
  });
  const bound = await listen(server, options.address);
  return { url: `http://${bound}`, close: () => closeServer(server) };
}

/** Listens on `host:port` (see parseListenAddress); resolves to the `host:port` bound, IPv6 in brackets. */
export async function listen(server: Server, address: string): Promise<string> {
  const { host, port } = parseListenAddress(address);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  const bound = server.address() as AddressInfo;
  return `${bound.family === 'IPv6' ? `[${bound.address}]` : bound.address}:${bound.port}`;
}

/** Stops listening and drops open connections, keep-alive ones included. */
export function closeServer(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

function probe(checks: readonly HealthCheck[]): [number, string] {
  const results = checks.map(({ name, check }) => {
    let problem: string | undefined;
    try {
      problem = check();
    } catch (error) {
      problem = (error as Error).message;
    }
    return problem === undefined ? `[+]${name} ok` : `[-]${name} failed: ${problem}`;
  });
  const failed = results.some((line) => line.startsWith('[-]'));
  return failed ? [500, `${results.join('\n')}\ncheck failed\n`] : [200, 'ok\n'];
}

function reply(
  response: ServerResponse,
  status: number,
  body: string,
  contentType = 'text/plain; charset=utf-8',
): void {
  response.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  response.end(body);
}
