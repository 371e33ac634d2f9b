import type { V1Deployment } from '@kubernetes/client-node';
import { applyIfChanged } from '../../controller/apply.ts';
import { builtinResources } from '../../controller/kube-client.ts';
import { objectNames, ownedLabels } from '../names.ts';
import { installedVersionAfter, versionStatus } from '../status.ts';
import { desiredDeployment } from '../steps/deployment.ts';
import { owned } from './owned.ts';
import type { Phase, PhaseCondition, PipelineDependencies, TenantReconcile } from './phase.ts';

/** The control-plane Deployment, and the tenant's version status from what its rollout shows. */
export class DeploymentPhase implements Phase {
  readonly name = 'deployment';
  readonly condition = 'ControlPlaneAvailable' as const;
  private readonly deps: PipelineDependencies;

  constructor(deps: PipelineDependencies) {
    this.deps = deps;
  }

  async run(reconcile: TenantReconcile) {
    const { context, tcp } = reconcile;
    const desired = owned(tcp, desiredDeployment({ context, podTemplateChecksum: reconcile.podTemplateChecksum }));
    const live = this.deps.observed.deployment(context.namespace, context.name);
    const result = await applyIfChanged(this.deps.client, builtinResources.deployment, desired, live);
    const deployment: V1Deployment | undefined = result.applied ? result.object : live;
    const observation = {
      desiredVersion: reconcile.spec.kubernetes.version,
      installedVersion: tcp.status?.kubernetesResources?.version?.version,
      deployment,
    };
    const status = versionStatus(observation);
    const installed = installedVersionAfter(status, observation);
    const names = objectNames(reconcile.name);
    const rollout = deployment?.status;
    reconcile.observe({
      observedGeneration: tcp.metadata.generation,
      kubernetesResources: {
        version: { status, ...(installed ? { version: installed } : {}) },
        deployment: {
          name: names.deployment,
          namespace: reconcile.namespace,
          selector: Object.entries(ownedLabels(names.deployment, 'deployment'))
            .map(([key, value]) => `${key}=${value}`)
            .join(','),
          replicas: rollout?.replicas ?? 0,
          readyReplicas: rollout?.readyReplicas ?? 0,
          updatedReplicas: rollout?.updatedReplicas ?? 0,
          availableReplicas: rollout?.availableReplicas ?? 0,
        },
      },
    });
    const ready = `${rollout?.readyReplicas ?? 0} of ${deployment?.spec?.replicas ?? 0} control-plane replicas ready`;
    const condition: PhaseCondition =
      status === 'Ready' || status === 'Sleeping'
        ? {
            status: 'True',
            reason: status,
            message: status === 'Ready' ? `the control plane serves (${ready})` : 'the control plane is scaled to zero',
          }
        : { status: 'False', reason: status, message: ready };
    return { condition };
  }
}
