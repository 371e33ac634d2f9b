import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { Agent, createServer, request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { accessFromKubeconfig, type ClusterAccess } from '../../src/controller/cluster-access.ts';
import { createCertificateAuthority, issueCertificate } from '../../src/pki/certificates.ts';
import { buildKubeconfig, kubeconfigToYaml } from '../../src/pki/kubeconfig.ts';

/** One API call as the proxy saw it arrive: enough to tell a Secret apply from a finalizer patch. */
export interface ProxiedCall {
  method: string;
  /** The URL path, without the query. */
  path: string;
  query: URLSearchParams;
  contentType: string;
  body: string;
  arrivedAt: number;
  /** When the answer was relayed to the caller (or, for a kill after the response, when the API server answered). */
  answeredAt?: number;
  status?: number;
  /**
   * What became of it: relayed both ways; held by a hold or after the switch tripped (never forwarded unless
   * released); dropped on release because its caller had gone; the call that tripped the switch, killed before
   * it was forwarded or after the API server answered it (the answer never relayed).
   */
  fate: 'forwarded' | 'held' | 'dropped' | 'killed-before-forwarding' | 'killed-after-response';
}

export interface KillPoint {
  /** For messages: what the point is, e.g. "the claim patch answered". */
  description: string;
  /** Kill before the matching call reaches the API server, or once the API server answered it (not relayed). */
  when: 'before-forwarding' | 'after-response';
  /**
   * Whether this call is the point. It may look elsewhere first (e.g. whether etcd has the tenant's user yet, to
   * kill at the first call after the grant whatever the order of steps): the call waits for the answer.
   */
  matches(call: ProxiedCall): boolean | Promise<boolean>;
}

export interface Hold {
  /** Calls held so far. */
  held(): readonly ProxiedCall[];
  /** Stops holding; forwards the held calls whose caller is still connected, drops the others. */
  release(): { forwarded: number; dropped: number };
}

export interface KillSwitchProxy {
  url: string;
  /** A kubeconfig that reaches the API server through this proxy (the client certificate is the upstream one). */
  kubeconfigYaml: string;
  /** Every call in order of arrival. */
  calls: readonly ProxiedCall[];
  /**
   * From now on, the first call that matches `point` trips the switch: `kill` is called (it should SIGKILL the
   * caller, synchronously) before the call is forwarded or after its answer, as the point says. Every call that
   * arrives from the moment of the match on is held and never forwarded, so that nothing slips past the point
   * (parallel requests such as a tenant's Secrets would otherwise be written together). Resolves with the
   * matching call once `kill` has been called.
   */
  arm(point: KillPoint, kill: () => void): Promise<ProxiedCall>;
  /** Holds every call matching `matches` (until released) instead of forwarding it. */
  hold(matches: (call: ProxiedCall) => boolean): Hold;
  close(): Promise<void>;
}

interface Pending {
  call: ProxiedCall;
  request: IncomingMessage;
  response: ServerResponse;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'content-length', 'upgrade']);

function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const result: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) result[name] = value;
  }
  return result;
}

/** A predicate that throws (say, on a body that is not JSON) does not match. */
function matchesSafely(matches: (call: ProxiedCall) => boolean, call: ProxiedCall): boolean {
  try {
    return matches(call);
  } catch {
    return false;
  }
}

async function matchesEventually(point: KillPoint, call: ProxiedCall): Promise<boolean> {
  try {
    return await point.matches(call);
  } catch {
    return false;
  }
}

/**
 * A loopback HTTPS proxy between a `kamaji manager` and the API server that sees each call's method, path and
 * body, so that a test can SIGKILL the manager at a precise point of a reconcile without any hook in the
 * manager's code. It terminates TLS with a certificate of its own and calls the API server with the
 * credentials of `upstreamKubeconfigYaml`.
 */
export async function startKillSwitchProxy(upstreamKubeconfigYaml: string): Promise<KillSwitchProxy> {
  const upstream: ClusterAccess = accessFromKubeconfig(upstreamKubeconfigYaml, '.', 'upstream kubeconfig');
  const ca = await createCertificateAuthority('kill-switch-proxy-ca', { validityDays: 1 });
  const serving = await issueCertificate(ca, {
    commonName: 'kill-switch-proxy',
    subjectAltNames: ['127.0.0.1', 'localhost'],
    usages: ['serverAuth'],
    validityDays: 1,
  });
  const agent = new Agent({
    keepAlive: true,
    ca: upstream.caPem,
    cert: upstream.certificatePem,
    key: upstream.keyPem,
  });
  const calls: ProxiedCall[] = [];
  let armed: { point: KillPoint; kill: () => void; fired: PromiseWithResolvers<ProxiedCall> } | undefined;
  let tripped = false;
  const holds: { matches: (call: ProxiedCall) => boolean; queue: Pending[]; active: boolean }[] = [];
  /** Calls held after the switch tripped: never forwarded, closed with the proxy. */
  const heldForever: Pending[] = [];

  const forward = (pending: Pending, relay: 'stream' | 'buffer'): Promise<IncomingMessage | undefined> => {
    const { call, request, response } = pending;
    return new Promise((resolve) => {
      const outgoing = httpsRequest(
        `${upstream.server}${request.url ?? '/'}`,
        {
          method: call.method,
          agent,
          headers: { ...forwardedHeaders(request.headers), 'content-length': String(Buffer.byteLength(call.body)) },
        },
        (answer) => {
          call.status = answer.statusCode;
          if (relay === 'buffer') {
            // Read it all, so that "answered" means the API server finished the call.
            answer.resume();
            answer.on('end', () => {
              call.answeredAt = Date.now();
              resolve(answer);
            });
            return;
          }
          response.writeHead(answer.statusCode ?? 502, forwardedHeaders(answer.headers));
          answer.pipe(response);
          answer.on('end', () => {
            call.answeredAt = Date.now();
          });
          resolve(answer);
        },
      );
      // The caller went away (killed, or a watch it closed): stop the upstream call too.
      response.on('close', () => {
        if (call.answeredAt === undefined) outgoing.destroy();
      });
      outgoing.on('error', () => {
        response.destroy();
        resolve(undefined);
      });
      outgoing.end(call.body);
    });
  };

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const url = new URL(request.url ?? '/', 'https://proxy.invalid');
    const call: ProxiedCall = {
      method: request.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      contentType: request.headers['content-type'] ?? '',
      body: Buffer.concat(chunks).toString('utf8'),
      arrivedAt: Date.now(),
      fate: 'forwarded',
    };
    calls.push(call);
    const pending = { call, request, response };
    if (tripped) {
      call.fate = 'held';
      heldForever.push(pending);
      return;
    }
    const candidate = armed;
    const matched = candidate !== undefined && (await matchesEventually(candidate.point, call));
    if (tripped) {
      // Another call tripped the switch while this one was being looked at.
      call.fate = 'held';
      heldForever.push(pending);
      return;
    }
    const trigger = matched && armed === candidate ? candidate : undefined;
    if (trigger) {
      tripped = true;
      armed = undefined;
      if (trigger.point.when === 'before-forwarding') {
        call.fate = 'killed-before-forwarding';
      } else {
        call.fate = 'killed-after-response';
        await forward(pending, 'buffer');
      }
      trigger.kill();
      response.destroy();
      trigger.fired.resolve(call);
      return;
    }
    const hold = holds.find((candidate) => candidate.active && matchesSafely(candidate.matches, call));
    if (hold) {
      call.fate = 'held';
      hold.queue.push(pending);
      return;
    }
    await forward(pending, 'stream');
  };

  const server = createServer({ cert: serving.certificatePem, key: serving.privateKeyPem }, (request, response) => {
    void handle(request, response).catch(() => response.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const kubeconfigYaml = kubeconfigToYaml(
    buildKubeconfig({
      clusterName: 'kill-switch-proxy',
      server: url,
      caCertificatePem: ca.certificatePem,
      userName: 'through-proxy',
      clientCertificatePem: upstream.certificatePem ?? '',
      clientKeyPem: upstream.keyPem ?? '',
    }),
  );

  return {
    url,
    kubeconfigYaml,
    calls,
    arm(point, kill) {
      if (armed || tripped) throw new Error('the kill switch is armed or tripped already');
      const fired = Promise.withResolvers<ProxiedCall>();
      armed = { point, kill, fired };
      return fired.promise;
    },
    hold(matches) {
      const hold = { matches, queue: [] as Pending[], active: true };
      holds.push(hold);
      return {
        held: () => hold.queue.map((pending) => pending.call),
        release() {
          hold.active = false;
          let forwarded = 0;
          let dropped = 0;
          for (const pending of hold.queue.splice(0)) {
            if (pending.response.destroyed || pending.request.socket.destroyed) {
              pending.call.fate = 'dropped';
              dropped += 1;
            } else {
              pending.call.fate = 'forwarded';
              forwarded += 1;
              void forward(pending, 'stream');
            }
          }
          return { forwarded, dropped };
        },
      };
    },
    async close() {
      for (const pending of [...heldForever, ...holds.flatMap((hold) => hold.queue)]) pending.response.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
