import type { V1Condition } from '@kubernetes/client-node';

export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface ConditionInput {
  type: string;
  status: ConditionStatus;
  reason: string;
  message: string;
}

/**
 * Sets a condition in a list, keeping its lastTransitionTime unless its status changed, as Kubernetes API
 * conventions ask. Returns a new list; conditions of other types are kept in place.
 */
export function setCondition(
  conditions: readonly V1Condition[],
  input: ConditionInput,
  observedGeneration: number | undefined,
  now: Date,
): V1Condition[] {
  const previous = conditions.find((condition) => condition.type === input.type);
  const transitioned = !previous || previous.status !== input.status;
  const next = {
    ...input,
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
    // Plain JSON from the API server holds a string here; keep it as it came.
    lastTransitionTime: transitioned ? (now.toISOString() as unknown as Date) : previous.lastTransitionTime,
  } as V1Condition;
  return previous
    ? conditions.map((condition) => (condition.type === input.type ? next : condition))
    : [...conditions, next];
}
