import { applyIfChanged } from '../../controller/apply.ts';
import { objectNames } from '../names.ts';
import { desiredDisruptionBudget, podDisruptionBudgetResource } from '../steps/disruption-budget.ts';
import { deleteExactly, isOwnedBy, owned } from './owned.ts';
import type { Phase, PipelineDependencies, TenantReconcile } from './phase.ts';

/**
 * The tenant's PodDisruptionBudget (beyond upstream Kamaji): present while it runs two or more replicas, deleted
 * when it drops below. It reports no condition of its own: the Deployment phase's ControlPlaneAvailable says how
 * the replicas are, and a failure here is reported under that same condition.
 */
export class DisruptionBudgetPhase implements Phase {
  readonly name = 'disruption-budget';
  readonly condition = 'ControlPlaneAvailable' as const;
  private readonly deps: PipelineDependencies;

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  async run(reconcile: TenantReconcile) {
    const { tcp } = reconcile;
    const tenant = { name: reconcile.name, namespace: reconcile.namespace };
    const live = this.deps.observed.podDisruptionBudget(tenant.namespace, objectNames(tenant.name).deployment);
    const desired = desiredDisruptionBudget({ tenant, replicas: reconcile.spec.controlPlane.deployment.replicas });
    if (desired) {
      await applyIfChanged(this.deps.client, podDisruptionBudgetResource, owned(tcp, desired), live);
    } else if (live && isOwnedBy(live, tcp)) {
      await deleteExactly(this.deps.client, podDisruptionBudgetResource, live);
    }
    return {};
  }
}
