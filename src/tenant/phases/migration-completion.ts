import type { V1Deployment } from '@kubernetes/client-node';
import { tenantControlPlaneResource } from '../../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { patchStatus } from '../../controller/apply.ts';
import { deleteTenantData } from '../finalize.ts';
import type { TenantClients } from '../tenant-clients.ts';
import { identityOf, replicasOf } from './migration.ts';
import { thawTenant } from './migration-io.ts';
import type { Phase, PhaseOutcome, PipelineDependencies, TenantReconcile } from './phase.ts';

/** While the pods roll onto the target, look this often (a Deployment change also wakes the tenant). */
const ROLLOUT_POLL_MS = 2_000;
/** How long one pass tries to lift the freeze after the switch. */
const THAW_MS = 10_000;
/** Beyond a pod's termination grace period, for a kubelet to have reported it gone. */
const GRACE_MARGIN_SECONDS = 5;

/**
 * The end of a switched migration, after the deployment phase: while the control plane rolls onto the target the
 * version status is Migrating (and the later phases that write into the tenant wait for Ready); once it runs there,
 * the freeze is lifted, the source's data, user and grant deleted, and the record removed.
 */
export class MigrationCompletionPhase implements Phase {
  readonly name = 'migration-completion';
  readonly condition = 'DataStoreMigrated' as const;
  private readonly deps: PipelineDependencies;
  private readonly clients: TenantClients;

  constructor(deps: PipelineDependencies, clients: TenantClients) {
    this.deps = deps;
    this.clients = clients;
  }

  async run(reconcile: TenantReconcile): Promise<PhaseOutcome> {
    const record = reconcile.tcp.status?.storage?.migration;
    if (record?.step !== 'Switched') return {};
    const waiting = (reason: string, message: string): PhaseOutcome => {
      reconcile.observe({ kubernetesResources: { version: { status: 'Migrating' } } });
      return { condition: { status: 'False', reason, message }, requeueAfterMs: ROLLOUT_POLL_MS };
    };
    const switched = `switched to DataStore ${record.target} (${record.keys ?? 0} keys copied)`;
    if (reconcile.status.kubernetesResources?.version?.status !== 'Ready') {
      const rollout = reconcile.status.kubernetesResources?.deployment;
      return waiting(
        'RollingOut',
        `${switched}; waiting for the control plane to roll out on it (${rollout?.updatedReplicas ?? 0} replicas updated, ${rollout?.readyReplicas ?? 0} ready) before writes are allowed again`,
      );
    }
    // A replaced API server serves the source until it exits: the freeze is lifted only once none is left, or a
    // delete reaching one would let it acknowledge writes the source's deletion then loses.
    const deployment = this.deps.observed.deployment(reconcile.namespace, reconcile.name);
    const now = (this.deps.now?.() ?? new Date()).getTime();
    if (deployment && replacedServersMayRun(deployment, now)) {
      return waiting('WaitingForReplacedPods', `${switched}; waiting for the replaced control-plane pods to exit`);
    }
    if (!(await thawTenant(await this.clients.connect(reconcile), replicasOf(reconcile), THAW_MS))) {
      return waiting('Thawing', `${switched}; the freeze is being lifted`);
    }
    const deletedKeys = await deleteTenantData(this.deps, reconcile.tcp, record.source, identityOf(reconcile));
    const tcp = reconcile.tcp;
    reconcile.tcp = await patchStatus<TenantControlPlane>(
      this.deps.client,
      tenantControlPlaneResource,
      { namespace: tcp.metadata.namespace, name: tcp.metadata.name ?? '' },
      { storage: { migration: null } },
    );
    const message = `moved from DataStore ${record.source} to ${record.target} (${record.keys ?? 0} keys); writes are allowed again; ${deletedKeys} keys and the tenant's user and grant were removed from ${record.source}`;
    await this.deps.events.record(reconcile.tcp, 'Normal', 'Migrated', message);
    return { condition: { status: 'True', reason: 'Migrated', message } };
  }
}

/**
 * Whether pods of a replaced template may still run: the Deployment's terminatingReplicas (Kubernetes 1.35 on);
 * without it, until the termination grace period (plus a margin) has passed since the new pods became available.
 */
export function replacedServersMayRun(deployment: V1Deployment, now: number): boolean {
  const terminating = deployment.status?.terminatingReplicas;
  if (terminating !== undefined) return terminating > 0;
  const progressed = deployment.status?.conditions?.find((condition) => condition.type === 'Progressing');
  const since = Date.parse(String(progressed?.lastUpdateTime ?? ''));
  const graceSeconds = deployment.spec?.template.spec?.terminationGracePeriodSeconds ?? 30;
  return !(since + (graceSeconds + GRACE_MARGIN_SECONDS) * 1000 <= now);
}
