import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest, type RequestOptions } from 'node:https';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ClusterAccess } from './cluster-access.ts';

/** Where a kind of object lives in the API: enough to build its URLs without a discovery round trip. */
export interface ResourceType {
  apiVersion: string;
  kind: string;
  plural: string;
  namespaced: boolean;
}

export const builtinResources = {
  configMap: { apiVersion: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
  secret: { apiVersion: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true },
  service: { apiVersion: 'v1', kind: 'Service', plural: 'services', namespaced: true },
  event: { apiVersion: 'v1', kind: 'Event', plural: 'events', namespaced: true },
  deployment: { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments', namespaced: true },
  lease: { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases', namespaced: true },
  node: { apiVersion: 'v1', kind: 'Node', plural: 'nodes', namespaced: false },
} as const satisfies Record<string, ResourceType>;

export interface ObjectLocation {
  /** Omitted for a namespaced type: across all namespaces (list and watch only). */
  namespace?: string;
  name?: string;
  subresource?: string;
}

export function resourcePath(type: ResourceType, location: ObjectLocation = {}): string {
  const { namespace, name, subresource } = location;
  if (!type.namespaced && namespace) throw new Error(`${type.kind} is cluster-scoped; got namespace ${namespace}`);
  if (type.namespaced && name && !namespace) throw new Error(`${type.kind} ${name} needs a namespace`);
  const group = type.apiVersion.includes('/') ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
  const scope = namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const object = name ? `/${encodeURIComponent(name)}` : '';
  return `${group}${scope}/${type.plural}${object}${subresource ? `/${subresource}` : ''}`;
}

/** The work-queue key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function objectKey(object: KubernetesObject): string {
  const { namespace, name } = object.metadata ?? {};
  if (!name) throw new Error(`a ${object.kind ?? 'object'} without metadata.name has no key`);
  return namespace ? `${namespace}/${name}` : name;
}

export function parseObjectKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** A failed API call, carrying the HTTP status and the reason from the API server's Status object. */
export class ApiError extends Error {
  readonly status: number;
  readonly reason: string | undefined;

  constructor(status: number, message: string, reason?: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }

  /** From a metav1.Status, as sent in an error response body or a watch ERROR event. */
  static fromStatus(status: unknown, fallbackCode: number, context: string): ApiError {
    const { code, message, reason } = (status ?? {}) as { code?: number; message?: string; reason?: string };
    return new ApiError(code ?? fallbackCode, `${context}: ${message ?? reason ?? `HTTP ${fallbackCode}`}`, reason);
  }
}

export function hasStatus(error: unknown, status: number): boolean {
  return error instanceof ApiError && error.status === status;
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface CallOptions {
  query?: Query;
  /** Serialised as JSON (valid YAML too, so it serves apply patches). */
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  /** Limit on the wait for the response to start, and on any later silence; for a watch, past `timeoutSeconds`. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 30_000;

/**
 * Raw JSON calls to the API server with the kubeconfig's credentials, over one keep-alive connection pool, for any
 * resource type. The generated clients of @kubernetes/client-node 2.x build a new undici dispatcher (so open a new
 * TLS connection) for every call, which hundreds of reconciles cannot afford, and send patches as JSON Patch unless
 * a header middleware is added to each call. Objects come back as plain JSON: timestamps are strings even where the
 * client-node types say Date.
 */
export interface KubeClientOptions {
  maxSockets?: number;
  /** Told about every call: its method, the server's host:port, and the status code (`<error>` when none came). */
  onResponse?: (method: string, host: string, code: string) => void;
}

export class KubeClient {
  private readonly access: ClusterAccess;
  private readonly server: string;
  private readonly agent: HttpAgent;
  private readonly onResponse: KubeClientOptions['onResponse'];

  constructor(access: ClusterAccess, options: KubeClientOptions = {}) {
    this.access = access;
    this.onResponse = options.onResponse;
    this.server = access.server.replace(/\/+$/, '');
    // TLS settings live on the agent, so that pooled connections are reused across calls.
    const poolOptions = {
      keepAlive: true,
      maxSockets: options.maxSockets ?? 32,
      ca: access.caPem,
      cert: access.certificatePem,
      key: access.keyPem,
      rejectUnauthorized: !access.insecureSkipTlsVerify,
    };
    this.agent = this.server.startsWith('https:') ? new HttpsAgent(poolOptions) : new HttpAgent(poolOptions);
  }

  /** A call whose JSON answer is returned (undefined when empty); an error status throws an ApiError. */
  async request<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    const response = await this.send(method, path, options);
    const text = await readBody(response);
    if (response.statusCode === undefined || response.statusCode >= 400) throw errorFrom(method, path, response, text);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** A GET whose body is left open for the caller to read (a watch); an error status throws an ApiError. */
  async stream(path: string, options: CallOptions = {}): Promise<IncomingMessage> {
    const response = await this.send('GET', path, options);
    if (response.statusCode === undefined || response.statusCode >= 400) {
      throw errorFrom('GET', path, response, await readBody(response));
    }
    return response;
  }

  /** Closes the pooled connections. */
  close(): void {
    this.agent.destroy();
  }

  private bearerToken(): string | undefined {
    // Read per call: a projected service-account token is rotated by the kubelet.
    return this.access.tokenFile ? readFileSync(this.access.tokenFile, 'utf8').trim() : this.access.token;
  }

  private async send(method: string, path: string, options: CallOptions): Promise<IncomingMessage> {
    const url = new URL(this.server + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = { Accept: options.accept ?? 'application/json' };
    const token = this.bearerToken();
    if (token) headers.Authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers['Content-Type'] = options.contentType ?? 'application/json';
      headers['Content-Length'] = String(Buffer.byteLength(body));
    }
    const requestOptions: RequestOptions = { method, headers, agent: this.agent, signal: options.signal };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    let responded = false;
    return new Promise((resolve, reject) => {
      // Until the response starts, a deadline covers waiting for a pooled socket, connecting and the server's work;
      // then the socket's inactivity timeout takes over (what a long watch needs).
      const request = send(url, requestOptions, (response) => {
        clearTimeout(deadline);
        responded = true;
        this.onResponse?.(method, url.host, String(response.statusCode ?? '<error>'));
        resolve(response);
      });
      const deadline = setTimeout(() => request.destroy(new Error(`${method} ${url.pathname}: no answer`)), timeoutMs);
      request.setTimeout(timeoutMs, () => request.destroy(new Error(`${method} ${url.pathname}: connection idle`)));
      request.on('error', (error) => {
        clearTimeout(deadline);
        if (!responded) this.onResponse?.(method, url.host, '<error>');
        reject(error);
      });
      request.end(body);
    });
  }
}

async function readBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function errorFrom(method: string, path: string, response: IncomingMessage, text: string): ApiError {
  const status = response.statusCode ?? 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { message: text.slice(0, 300) || undefined };
  }
  return ApiError.fromStatus(parsed, status, `${method} ${path}`);
}
