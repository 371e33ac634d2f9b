/**
 * Datastore endpoints are `host:port` (DataStore `spec.endpoints`, as upstream Kamaji writes them); every consumer
 * adds the scheme it speaks. Users still write `https://etcd-0:2379` now and then: these helpers read both, so a
 * scheme is never doubled (`https://https://...`).
 */

/** `scheme://` at the start of an endpoint, if any (`https`, `http`, `unix`...). */
const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;

export interface ParsedEndpoint {
  /** The scheme the user wrote, lower case, without `://`; undefined for a plain `host:port`. */
  scheme?: string;
  /** Host name, IPv4 address, or bracketed IPv6 address (`[fd00::1]`). */
  host: string;
  port?: number;
}

/** Reads `host:port`, `[v6]:port`, or either behind a scheme and before a trailing slash; undefined when neither. */
export function parseEndpoint(endpoint: string): ParsedEndpoint | undefined {
  const scheme = SCHEME.exec(endpoint.trim())?.[1]?.toLowerCase();
  const rest = endpoint.trim().replace(SCHEME, '').replace(/\/+$/, '');
  const match = /^(\[[0-9a-fA-F:.]+\]|[^\s/:[\]@?#]+)(?::(\d{1,5}))?$/.exec(rest);
  if (!match?.[1]) return undefined;
  const port = match[2] === undefined ? undefined : Number(match[2]);
  return { ...(scheme ? { scheme } : {}), host: match[1], ...(port === undefined ? {} : { port }) };
}

/** `host:port` of an endpoint written with or without a scheme (`https://etcd-0:2379/` → `etcd-0:2379`). */
export function endpointHostPort(endpoint: string): string {
  const parsed = parseEndpoint(endpoint);
  if (!parsed) return endpoint.trim().replace(SCHEME, '');
  return parsed.port === undefined ? parsed.host : `${parsed.host}:${parsed.port}`;
}

/** The URL an etcd client (a tenant kube-apiserver, Kamaji) dials: always TLS, whatever scheme the user wrote. */
export function etcdClientUrl(endpoint: string): string {
  return `https://${endpointHostPort(endpoint)}`;
}
