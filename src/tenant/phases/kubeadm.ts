import type { V1Secret } from '@kubernetes/client-node';
import { checksum, readObject, serverSideApply } from '../../controller/apply.ts';
import { accessFromKubeconfig } from '../../controller/cluster-access.ts';
import { ApiError, builtinResources, type CallOptions, KubeClient } from '../../controller/kube-client.ts';
import { decodeSecretData } from '../../controller/secret-data.ts';
import { readSingleKubeconfig } from '../../pki/kubeconfig.ts';
import { objectNames } from '../names.ts';
import {
  describeObject,
  desiredKubeadmObjects,
  type KubeadmSettings,
  kubeadmObjectsChecksum,
  kubeadmSettings,
} from '../steps/kubeadm.ts';
import { Blocked, type Phase, type PhaseOutcome, type PipelineDependencies, type TenantReconcile } from './phase.ts';

/** The admin kubeconfig key the phase uses: system:masters, so it works before kubeadm:cluster-admins is bound. */
const KUBECONFIG_KEY = 'super-admin.conf';
/** Each call to a tenant's API server; it is up (its Deployment is Ready), so an answer comes quickly or not at all. */
const TENANT_CALL_TIMEOUT_MS = 10_000;
/** After a failure, try again this soon. */
const RETRY_MS = 5_000;
/** The objects are applied again this often even when nothing changed, repairing what someone deleted. */
const REAPPLY_MS = 6 * 60 * 60 * 1000;

interface TenantClient {
  /** Checksum of the admin kubeconfig Secret it was built from. */
  source: string;
  server: string;
  client: KubeClient;
}

/**
 * What `kubeadm join` needs in the tenant (cluster-info, kubeadm-config, kubelet-config and kubeadm's RBAC for
 * bootstrap tokens), applied through the tenant's own API with its admin credentials once the control plane is
 * available. The checksum of the settings (and the CA) is recorded in `status.kubeadmPhase.bootstrapToken`: while
 * it matches, a pass costs no call to the tenant.
 */
export class KubeadmPhase implements Phase {
  readonly name = 'kubeadm';
  readonly condition = 'KubeadmResourcesReady' as const;
  private readonly deps: PipelineDependencies;
  /** Tenant → the checksum applied and when. */
  private readonly applied = new Map<string, { checksum: string; at: number }>();
  private readonly clients = new Map<string, TenantClient>();

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  forget(key: string): void {
    this.applied.delete(key);
    this.clients.get(key)?.client.close();
    this.clients.delete(key);
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async run(reconcile: TenantReconcile): Promise<PhaseOutcome> {
    const { tcp, key } = reconcile;
    const available = reconcile.status.kubernetesResources?.version?.status === 'Ready';
    const recorded = tcp.status?.kubeadmPhase?.bootstrapToken?.checksum;
    // The common case of a tenant that never came up costs nothing more than this.
    if (!available && !recorded && !this.applied.has(key)) return waiting();

    const settings = kubeadmSettings(reconcile.name, reconcile.spec, reconcile.endpoint);
    const caChecksum = reconcile.status.certificates?.ca?.checksum ?? tcp.status?.certificates?.ca?.checksum ?? '';
    const wanted = kubeadmObjectsChecksum(settings, caChecksum);
    const now = this.now().getTime();
    let last = this.applied.get(key);
    if (!last && recorded === wanted) {
      // Applied by an earlier manager process: trusted until the next periodic re-apply.
      last = { checksum: wanted, at: now };
      this.applied.set(key, last);
    }
    const current = last?.checksum === wanted;
    if (current && (now - (last?.at ?? 0) < REAPPLY_MS || !available)) {
      // Also records it when the status write of the pass that applied failed.
      if (recorded !== wanted) reconcile.observe({ kubeadmPhase: { bootstrapToken: { checksum: wanted } } });
      return applied();
    }
    if (!available) return waiting();

    await this.apply(reconcile, settings);
    this.applied.set(key, { checksum: wanted, at: now });
    reconcile.observe({
      kubeadmPhase: { bootstrapToken: { checksum: wanted, lastUpdate: this.now().toISOString() } },
    });
    return applied();
  }

  private async apply(reconcile: TenantReconcile, settings: KubeadmSettings): Promise<void> {
    const tenant = await this.tenantClient(reconcile);
    const ca = readSingleKubeconfig(tenant.kubeconfig)?.caCertificatePem;
    if (!ca) {
      throw failed(
        'AdminKubeconfigInvalid',
        `${KUBECONFIG_KEY} in Secret ${reconcile.namespace}/${objectNames(reconcile.name).adminKubeconfigSecret} holds no CA certificate; delete the Secret to have it regenerated`,
      );
    }
    const caller = {
      request: <T>(method: string, path: string, options: CallOptions = {}) =>
        tenant.client.request<T>(method, path, { timeoutMs: TENANT_CALL_TIMEOUT_MS, ...options }),
    };
    const objects = desiredKubeadmObjects(settings, ca);
    const results = await Promise.allSettled(objects.map((entry) => serverSideApply(caller, entry.type, entry.object)));
    const failures = objects.flatMap((object, index) => {
      const result = results[index];
      return result?.status === 'rejected' ? [{ name: describeObject(object), error: result.reason as Error }] : [];
    });
    if (failures.length === 0) return;
    const [first] = failures;
    const unreachable = failures.some(({ error }) => !(error instanceof ApiError));
    const refused = failures.some(
      ({ error }) => error instanceof ApiError && (error.status === 401 || error.status === 403),
    );
    const fix = unreachable
      ? `check that the manager reaches the tenant's API server at ${tenant.server}`
      : refused
        ? `the tenant refused the ${KUBECONFIG_KEY} credentials; delete Secret ${reconcile.namespace}/${objectNames(reconcile.name).adminKubeconfigSecret} to have them reissued`
        : 'fix or delete the conflicting object in the tenant';
    throw failed(
      unreachable ? 'TenantUnreachable' : 'ApplyFailed',
      `${failures.length} of ${objects.length} kubeadm objects could not be applied in the tenant, first ${first?.name}: ${first?.error.message}; ${fix}`,
    );
  }

  /** A client of the tenant's API server with its admin credentials, one per tenant, rebuilt when they change. */
  private async tenantClient(reconcile: TenantReconcile): Promise<TenantClient & { kubeconfig: string }> {
    const secretName = objectNames(reconcile.name).adminKubeconfigSecret;
    const secret = await readObject<V1Secret>(this.deps.client, builtinResources.secret, {
      namespace: reconcile.namespace,
      name: secretName,
    });
    const kubeconfig = secret ? decodeSecretData(secret)[KUBECONFIG_KEY] : undefined;
    if (!kubeconfig) {
      throw failed(
        'AdminKubeconfigMissing',
        `Secret ${reconcile.namespace}/${secretName} has no ${KUBECONFIG_KEY}; the secrets phase writes it (delete the Secret to have it regenerated)`,
      );
    }
    const source = checksum(kubeconfig);
    let cached = this.clients.get(reconcile.key);
    if (cached?.source !== source) {
      cached?.client.close();
      const access = accessFromKubeconfig(kubeconfig, '/', `${secretName}/${KUBECONFIG_KEY}`);
      cached = { source, server: access.server, client: new KubeClient(access, { maxSockets: 4 }) };
      this.clients.set(reconcile.key, cached);
    }
    return { ...cached, kubeconfig };
  }
}

function waiting(): PhaseOutcome {
  return {
    condition: {
      status: 'Unknown',
      reason: 'WaitingForControlPlane',
      message: 'waiting for the control plane to be available',
    },
  };
}

function applied(): PhaseOutcome {
  return {
    condition: {
      status: 'True',
      reason: 'Applied',
      message: 'cluster-info, kubeadm-config, kubelet-config and the bootstrap-token RBAC are in the tenant',
    },
  };
}

function failed(reason: string, message: string): Blocked {
  return new Blocked({ status: 'False', reason, message }, RETRY_MS);
}
