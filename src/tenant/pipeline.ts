import type { V1Condition } from '@kubernetes/client-node';
import { tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { checksum, patchStatus, readObject } from '../controller/apply.ts';
import { parseObjectKey } from '../controller/kube-client.ts';
import type { ReconcileResult } from '../controller/work-queue.ts';
import { type ConditionInput, setCondition } from './conditions.ts';
import { finalizeTenant } from './finalize.ts';
import { AddonsPhase } from './phases/addons.ts';
import { ClaimPhase } from './phases/claim.ts';
import { DataStorePhase } from './phases/datastore.ts';
import { DeploymentPhase } from './phases/deployment.ts';
import { DisruptionBudgetPhase } from './phases/disruption-budget.ts';
import { KubeadmPhase } from './phases/kubeadm.ts';
import { MigrationPhase } from './phases/migration.ts';
import { MigrationCompletionPhase } from './phases/migration-completion.ts';
import {
  Blocked,
  mergeStatus,
  type Phase,
  type PipelineDependencies,
  type StatusUpdate,
  TenantReconcile,
} from './phases/phase.ts';
import { SecretsPhase } from './phases/secrets.ts';
import { ServicePhase } from './phases/service.ts';
import { ValidatePhase } from './phases/validate.ts';
import { summarizeReady, unreachedConditions } from './ready.ts';
import { TenantClients } from './tenant-clients.ts';
import { fieldsHonouredCondition } from './unhonoured.ts';

export { TENANT_FINALIZER } from './phases/claim.ts';
export type { ObservedObjects, ObservedSecret, PipelineDependencies } from './phases/phase.ts';

export const ANNOTATION_PAUSED = 'kamaji.clastix.io/paused';

/** The reason of the condition a phase failing with an unexpected error reports. */
const RECONCILE_ERROR = 'ReconcileError';

/**
 * The TenantControlPlane pipeline: an ordered list of phases, each re-runnable (it reads what exists before it
 * writes), each reporting a condition from what it observed; `Ready` is their summary. A phase that is blocked or
 * fails stops the pass, and the status says which and why. Running the pass again after a crash at any point
 * completes the work without duplicating anything.
 */
export class TenantPipeline {
  private readonly deps: PipelineDependencies;
  private readonly phases: readonly Phase[];
  /** Tenant → the resourceVersion of the TCP as this manager last wrote or read it at the end of a pass. */
  private readonly lastWritten = new Map<string, string>();

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
    // One client per tenant for every phase that calls the tenant's own API server.
    const tenantClients = new TenantClients(deps.client);
    this.phases = [
      new ClaimPhase(deps),
      new ValidatePhase(),
      new DataStorePhase(deps),
      new MigrationPhase(deps, tenantClients),
      new ServicePhase(deps),
      new SecretsPhase(deps),
      new DeploymentPhase(deps),
      new MigrationCompletionPhase(deps, tenantClients),
      new DisruptionBudgetPhase(deps),
      new KubeadmPhase(deps, tenantClients),
      new AddonsPhase(deps, tenantClients),
    ];
  }

  private now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const { namespace, name } = parseObjectKey(key);
    const tcp = await this.read(key, namespace, name);
    if (!tcp) {
      // Gone without our finalizer running (someone removed it): forget it all the same.
      this.forget(key);
      return {};
    }
    if (tcp.metadata.deletionTimestamp) {
      // A paused TCP can still be deleted: pausing stops changes, not the cleanup its owner asked for.
      const result = await finalizeTenant(this.deps, tcp, async (condition) => {
        await this.writeStatus(tcp, {}, [condition]);
      });
      this.forget(key);
      return result;
    }
    if (tcp.metadata.annotations?.[ANNOTATION_PAUSED] !== undefined) return {};
    return this.converge(new TenantReconcile(key, tcp));
  }

  /**
   * The TCP as it is now. The informer's copy serves when it is the very version our last write produced; otherwise
   * (it may lag our own writes) a fresh GET. Either way the object is never modified here: it may be the cache's.
   */
  private async read(
    key: string,
    namespace: string | undefined,
    name: string,
  ): Promise<TenantControlPlane | undefined> {
    const cached = this.deps.observed.tenant(namespace ?? '', name);
    const written = this.lastWritten.get(key);
    if (cached && written !== undefined && cached.metadata.resourceVersion === written) return cached;
    return readObject<TenantControlPlane>(this.deps.client, tenantControlPlaneResource, { namespace, name });
  }

  private forget(key: string): void {
    this.lastWritten.delete(key);
    for (const phase of this.phases) phase.forget?.(key);
  }

  private async converge(reconcile: TenantReconcile): Promise<ReconcileResult> {
    const conditions: ConditionInput[] = [];
    let requeueAfterMs: number | undefined;
    let stop: { condition: ConditionInput; retryAfterMs: number | undefined; error?: Error } | undefined;
    for (const phase of this.phases) {
      try {
        const outcome = await this.step(phase.name, () => phase.run(reconcile));
        if (outcome.condition) conditions.push({ type: phase.condition, ...outcome.condition });
        if (outcome.requeueAfterMs !== undefined) {
          requeueAfterMs = Math.min(requeueAfterMs ?? Number.POSITIVE_INFINITY, outcome.requeueAfterMs);
        }
      } catch (error) {
        stop =
          error instanceof Blocked
            ? { condition: { type: phase.condition, ...error.condition }, retryAfterMs: error.retryAfterMs }
            : {
                condition: {
                  type: phase.condition,
                  status: 'False',
                  reason: RECONCILE_ERROR,
                  message: `${phase.name} failed: ${(error as Error).message}`,
                },
                retryAfterMs: undefined,
                error: error as Error,
              };
        conditions.push(stop.condition, ...unreachedConditions([...conditions, stop.condition], stop.condition));
        break;
      }
    }
    conditions.push(fieldsHonouredCondition(reconcile.tcp.spec), summarizeReady(conditions));
    if (stop) {
      await this.deps.events.record(reconcile.tcp, 'Warning', stop.condition.reason, stop.condition.message);
    }
    const final = await this.step('status', () => this.writeStatus(reconcile.tcp, reconcile.status, conditions));
    if (final.metadata.resourceVersion) this.lastWritten.set(reconcile.key, final.metadata.resourceVersion);
    // An unexpected error goes back to the work queue, whose backoff paces the retries.
    if (stop?.error) throw stop.error;
    if (stop) return stop.retryAfterMs === undefined ? {} : { requeueAfterMs: stop.retryAfterMs };
    return requeueAfterMs === undefined ? {} : { requeueAfterMs };
  }

  /** Runs one phase (or the status write) and reports its duration for the step metrics, also when it throws. */
  private async step<T>(name: string, work: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await work();
    } finally {
      this.deps.observeStep?.(name, (performance.now() - started) / 1000);
    }
  }

  /**
   * Merges what this pass observed into the status and writes it only when something changed. Conditions are
   * merged by type, keeping each one's transition time while its status stays the same. Events: one per version
   * status transition, and one when Ready changes.
   */
  private async writeStatus(
    tcp: TenantControlPlane,
    update: StatusUpdate,
    conditionUpdates: readonly ConditionInput[],
  ): Promise<TenantControlPlane> {
    const current = tcp.status ?? {};
    let conditions: V1Condition[] = (current.conditions as V1Condition[] | undefined) ?? [];
    for (const condition of conditionUpdates) {
      conditions = setCondition(conditions, condition, tcp.metadata.generation, this.now());
    }
    const next = { ...mergeStatus(current, update), conditions };
    if (checksum(next) === checksum(current)) return tcp;
    const written = await patchStatus<TenantControlPlane>(
      this.deps.client,
      tenantControlPlaneResource,
      { namespace: tcp.metadata.namespace, name: tcp.metadata.name ?? '' },
      next as Record<string, unknown>,
    );
    const before = current.kubernetesResources?.version?.status;
    const after = written.status?.kubernetesResources?.version?.status;
    const readyBefore = current.conditions?.find((condition) => condition.type === 'Ready');
    if (after && after !== before) {
      const message = before ? `${before} → ${after}` : after;
      await this.deps.events.record(tcp, after === 'NotReady' ? 'Warning' : 'Normal', after, message);
    }
    const ready = conditionUpdates.find((condition) => condition.type === 'Ready');
    if (ready && readyBefore && readyBefore.status !== ready.status) {
      const type = ready.status === 'True' ? 'Normal' : 'Warning';
      await this.deps.events.record(
        tcp,
        type,
        `Ready${ready.status}`,
        `Ready ${readyBefore.status} → ${ready.status}: ${ready.message}`,
      );
    }
    return written;
  }
}
