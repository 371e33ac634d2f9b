import type { V1Secret } from '@kubernetes/client-node';
import { type ApiCaller, checksum, readObject, serverSideApply } from '../controller/apply.ts';
import { accessFromKubeconfig } from '../controller/cluster-access.ts';
import { ApiError, builtinResources, type CallOptions, KubeClient } from '../controller/kube-client.ts';
import { decodeSecretData } from '../controller/secret-data.ts';
import { objectNames } from './names.ts';
import { Blocked, type TenantReconcile } from './phases/phase.ts';
import { describeObject, type TenantObject } from './steps/objects.ts';

/**
 * Clients of tenant clusters' own API servers, for the phases that write objects into a tenant (kubeadm's join
 * objects, the addons): one per tenant, with its admin credentials, rebuilt when they change; and the way those
 * phases report a failed call (reason, the first object, the fix).
 */

/** The admin kubeconfig key used: system:masters, so it works before kubeadm:cluster-admins is bound. */
export const TENANT_KUBECONFIG_KEY = 'super-admin.conf';
/** Each call to a tenant's API server; it is up (its Deployment is Ready), so an answer comes quickly or not at all. */
export const TENANT_CALL_TIMEOUT_MS = 10_000;
/** After a failure, try again this soon. */
export const TENANT_RETRY_MS = 5_000;
/** Objects are applied again this often even when nothing changed, repairing what someone deleted. */
export const TENANT_REAPPLY_MS = 6 * 60 * 60 * 1000;

/** A tenant's API server as the admin user: every call bounded by TENANT_CALL_TIMEOUT_MS. */
export interface TenantConnection {
  /** The API server URL, for messages. */
  server: string;
  /** The kubeconfig the client was built from (its CA is the tenant's). */
  kubeconfig: string;
  caller: ApiCaller;
  /** The `<tcp>-admin-kubeconfig` Secret, for messages. */
  secret: string;
}

interface CachedClient {
  /** Checksum of the kubeconfig it was built from. */
  source: string;
  server: string;
  client: KubeClient;
}

export class TenantClients {
  private readonly admin: ApiCaller;
  private readonly clients = new Map<string, CachedClient>();

  /** `admin` is the admin cluster's client, which reads the tenant's admin kubeconfig Secret. */
  constructor(admin: ApiCaller) {
    this.admin = admin;
  }

  forget(key: string): void {
    this.clients.get(key)?.client.close();
    this.clients.delete(key);
  }

  /** A client of the tenant's API server with its admin credentials; the Secret is read at each call. */
  async connect(reconcile: TenantReconcile): Promise<TenantConnection> {
    const secretName = objectNames(reconcile.name).adminKubeconfigSecret;
    const secret = `${reconcile.namespace}/${secretName}`;
    const object = await readObject<V1Secret>(this.admin, builtinResources.secret, {
      namespace: reconcile.namespace,
      name: secretName,
    });
    const kubeconfig = object ? decodeSecretData(object)[TENANT_KUBECONFIG_KEY] : undefined;
    if (!kubeconfig) {
      throw tenantFailure(
        'AdminKubeconfigMissing',
        `Secret ${secret} has no ${TENANT_KUBECONFIG_KEY}; the secrets phase writes it (delete the Secret to have it regenerated)`,
      );
    }
    const source = checksum(kubeconfig);
    let cached = this.clients.get(reconcile.key);
    if (cached?.source !== source) {
      cached?.client.close();
      const access = accessFromKubeconfig(kubeconfig, '/', `${secretName}/${TENANT_KUBECONFIG_KEY}`);
      cached = { source, server: access.server, client: new KubeClient(access, { maxSockets: 4 }) };
      this.clients.set(reconcile.key, cached);
    }
    const { client } = cached;
    return {
      server: cached.server,
      kubeconfig,
      secret,
      caller: {
        request: <T>(method: string, path: string, options: CallOptions = {}) =>
          client.request<T>(method, path, { timeoutMs: TENANT_CALL_TIMEOUT_MS, ...options }),
      },
    };
  }
}

/** A phase's condition False with `reason`, retried in TENANT_RETRY_MS. */
export function tenantFailure(reason: string, message: string): Blocked {
  return new Blocked({ status: 'False', reason, message }, TENANT_RETRY_MS);
}

/** A call about one object that failed: which object (or list) and the error. */
export interface TenantCallFailure {
  name: string;
  error: Error;
}

/**
 * Server-side applies every object (all at once); the failures, in the objects' order. Nothing is thrown: the
 * caller reports them with `tenantCallsFailed`.
 */
export async function applyInTenant(
  tenant: TenantConnection,
  objects: readonly TenantObject[],
): Promise<TenantCallFailure[]> {
  const results = await Promise.allSettled(
    objects.map((entry) => serverSideApply(tenant.caller, entry.type, entry.object)),
  );
  return objects.flatMap((object, index) => {
    const result = results[index];
    return result?.status === 'rejected' ? [{ name: describeObject(object), error: result.reason as Error }] : [];
  });
}

/**
 * The Blocked error for calls into a tenant that failed: `TenantUnreachable` when any got no answer (naming the
 * server), otherwise `ApplyFailed` (credentials refused: the Secret to delete; anything else: the object to fix).
 * `what` says what was being done, e.g. "3 of 12 kubeadm objects could not be applied".
 */
export function tenantCallsFailed(tenant: TenantConnection, what: string, failures: readonly TenantCallFailure[]) {
  const [first] = failures;
  const unreachable = failures.some(({ error }) => !(error instanceof ApiError));
  const refused = failures.some(
    ({ error }) => error instanceof ApiError && (error.status === 401 || error.status === 403),
  );
  const fix = unreachable
    ? `check that the manager reaches the tenant's API server at ${tenant.server}`
    : refused
      ? `the tenant refused the ${TENANT_KUBECONFIG_KEY} credentials; delete Secret ${tenant.secret} to have them reissued`
      : 'fix or delete the conflicting object in the tenant';
  return tenantFailure(
    unreachable ? 'TenantUnreachable' : 'ApplyFailed',
    `${what} in the tenant, first ${first?.name}: ${first?.error.message}; ${fix}`,
  );
}

/**
 * What a phase applied in each tenant (per part: the whole phase, or one addon) and when, so that a pass whose
 * objects are unchanged costs no call to the tenant. A checksum the status records but this process has not seen
 * was applied by an earlier manager process: trusted from now until the next periodic re-apply.
 */
export class AppliedChecksums<Part extends string> {
  private readonly tenants = new Map<string, Map<Part, { checksum: string; at: number }>>();

  /** Anything recorded for the tenant by this process. */
  has(key: string): boolean {
    return this.tenants.has(key);
  }

  forget(key: string): void {
    this.tenants.delete(key);
  }

  /**
   * `wanted` is in the tenant and needs no call: applied by this process or (as `recorded` says) an earlier one,
   * and not due for the periodic re-apply, or due but `canReapply` is false (the control plane is down, say).
   */
  isCurrent(key: string, part: Part, wanted: string, recorded: string | undefined, now: number, canReapply: boolean) {
    let last = this.tenants.get(key)?.get(part);
    if (!last && recorded === wanted) {
      last = { checksum: wanted, at: now };
      this.record(key, part, wanted, now);
    }
    if (last?.checksum !== wanted) return false;
    return !(canReapply && now - last.at >= TENANT_REAPPLY_MS);
  }

  record(key: string, part: Part, checksum: string, now: number): void {
    let parts = this.tenants.get(key);
    if (!parts) {
      parts = new Map();
      this.tenants.set(key, parts);
    }
    parts.set(part, { checksum, at: now });
  }
}
