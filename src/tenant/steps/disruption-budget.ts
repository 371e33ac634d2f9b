import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { ResourceType } from '../../controller/kube-client.ts';
import { objectNames, ownedLabels } from '../names.ts';

export const podDisruptionBudgetResource = {
  apiVersion: 'policy/v1',
  kind: 'PodDisruptionBudget',
  plural: 'poddisruptionbudgets',
  namespaced: true,
} as const satisfies ResourceType;

/** Below this many replicas a budget could only block a drain (1 replica) or protect nothing (0). */
export const MIN_REPLICAS_FOR_BUDGET = 2;

export interface DisruptionBudgetInput {
  tenant: { name: string; namespace: string };
  replicas: number;
}

/**
 * Beyond upstream Kamaji: with two or more replicas, voluntary disruptions (a `kubectl drain`, a node upgrade)
 * evict one control-plane pod at a time, so the tenant's API server always has a replica serving. Undefined when
 * the tenant has fewer replicas: no budget then.
 */
export function desiredDisruptionBudget({
  tenant,
  replicas,
}: DisruptionBudgetInput): V1PodDisruptionBudget | undefined {
  if (replicas < MIN_REPLICAS_FOR_BUDGET) return undefined;
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: objectNames(tenant.name).deployment,
      namespace: tenant.namespace,
      labels: ownedLabels(tenant.name, 'disruption-budget'),
    },
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: ownedLabels(tenant.name, 'deployment') },
    },
  };
}
