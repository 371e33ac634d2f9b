import type { ConditionInput } from './conditions.ts';
import type { PhaseConditionType } from './phases/phase.ts';

/** The conditions `Ready` summarises, in pipeline order: the first that is not True says why. */
export const READY_INPUTS: readonly PhaseConditionType[] = [
  'Valid',
  'DataStoreReady',
  'EndpointReady',
  'CertificatesReady',
  'ControlPlaneAvailable',
  'KubeadmResourcesReady',
  'AddonsReady',
];

/**
 * `Ready` as a pure summary of the phases' conditions (as Cluster API's providers do): True only when every input
 * is True; otherwise False (or Unknown) with the first blocking condition's reason and message.
 */
export function summarizeReady(conditions: readonly ConditionInput[]): ConditionInput {
  for (const type of READY_INPUTS) {
    const condition = conditions.find((candidate) => candidate.type === type);
    if (!condition) return { type: 'Ready', status: 'Unknown', reason: 'Pending', message: `${type} not observed yet` };
    if (condition.status !== 'True') {
      return {
        type: 'Ready',
        status: condition.status,
        reason: condition.reason,
        message: `${type}: ${condition.message}`,
      };
    }
  }
  const available = conditions.find((candidate) => candidate.type === 'ControlPlaneAvailable');
  return { type: 'Ready', status: 'True', reason: available?.reason ?? 'Ready', message: available?.message ?? '' };
}

/** The inputs a pass did not reach because `blocking` stopped it: Unknown, naming what they wait for. */
export function unreachedConditions(reported: readonly ConditionInput[], blocking: ConditionInput): ConditionInput[] {
  return READY_INPUTS.filter((type) => !reported.some((condition) => condition.type === type)).map((type) => ({
    type,
    status: 'Unknown',
    reason: 'Waiting',
    message: `not checked while ${blocking.type} is ${blocking.status} (${blocking.reason})`,
  }));
}
