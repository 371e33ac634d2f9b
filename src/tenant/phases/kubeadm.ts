import { readSingleKubeconfig } from '../../pki/kubeconfig.ts';
import { objectNames } from '../names.ts';
import {
  desiredKubeadmObjects,
  type KubeadmSettings,
  kubeadmObjectsChecksum,
  kubeadmSettings,
} from '../steps/kubeadm.ts';
import {
  AppliedChecksums,
  applyInTenant,
  TENANT_KUBECONFIG_KEY,
  TenantClients,
  tenantCallsFailed,
  tenantFailure,
} from '../tenant-clients.ts';
import type { Phase, PhaseOutcome, PipelineDependencies, TenantReconcile } from './phase.ts';

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
  private readonly applied = new AppliedChecksums<'joinObjects'>();
  private readonly clients: TenantClients;

  /** `clients` is shared with the other phases that call the tenant: one connection pool per tenant. */
  constructor(deps: PipelineDependencies, clients = new TenantClients(deps.client)) {
    this.deps = deps;
    this.clients = clients;
  }

  forget(key: string): void {
    this.applied.forget(key);
    this.clients.forget(key);
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
    if (this.applied.isCurrent(key, 'joinObjects', wanted, recorded, now, available)) {
      // Also records it when the status write of the pass that applied failed.
      if (recorded !== wanted) reconcile.observe({ kubeadmPhase: { bootstrapToken: { checksum: wanted } } });
      return applied();
    }
    if (!available) return waiting();

    await this.apply(reconcile, settings);
    this.applied.record(key, 'joinObjects', wanted, now);
    reconcile.observe({
      kubeadmPhase: { bootstrapToken: { checksum: wanted, lastUpdate: this.now().toISOString() } },
    });
    return applied();
  }

  private async apply(reconcile: TenantReconcile, settings: KubeadmSettings): Promise<void> {
    const tenant = await this.clients.connect(reconcile);
    const ca = readSingleKubeconfig(tenant.kubeconfig)?.caCertificatePem;
    if (!ca) {
      throw tenantFailure(
        'AdminKubeconfigInvalid',
        `${TENANT_KUBECONFIG_KEY} in Secret ${reconcile.namespace}/${objectNames(reconcile.name).adminKubeconfigSecret} holds no CA certificate; delete the Secret to have it regenerated`,
      );
    }
    const objects = desiredKubeadmObjects(settings, ca);
    const failures = await applyInTenant(tenant, objects);
    if (failures.length === 0) return;
    throw tenantCallsFailed(
      tenant,
      `${failures.length} of ${objects.length} kubeadm objects could not be applied`,
      failures,
    );
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
