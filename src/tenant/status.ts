import type { V1Deployment } from '@kubernetes/client-node';

export type VersionStatus = 'Provisioning' | 'Ready' | 'NotReady' | 'Sleeping' | 'Upgrading';

export interface VersionObservation {
  desiredVersion: string;
  /** The version last seen Ready (status.kubernetesResources.version.version); undefined before the first. */
  installedVersion: string | undefined;
  deployment: V1Deployment | undefined;
}

/** Whether every desired replica runs the current pod template and is ready. */
export function deploymentRolledOut(deployment: V1Deployment): boolean {
  const desired = deployment.spec?.replicas ?? 1;
  const status = deployment.status;
  const observedCurrent = (status?.observedGeneration ?? 0) >= (deployment.metadata?.generation ?? 0);
  return (
    observedCurrent &&
    (status?.updatedReplicas ?? 0) >= desired &&
    (status?.readyReplicas ?? 0) >= desired &&
    (status?.replicas ?? 0) === desired
  );
}

/**
 * The TCP's version status, from what the Deployment shows: Sleeping at zero replicas; Ready once every replica
 * runs the current template; Upgrading while a new version rolls out over an installed one; Provisioning before
 * the first Ready; NotReady when a Ready control plane lost its replicas.
 */
export function versionStatus(observation: VersionObservation): VersionStatus {
  const { deployment, installedVersion, desiredVersion } = observation;
  if (!deployment) return installedVersion ? 'NotReady' : 'Provisioning';
  if ((deployment.spec?.replicas ?? 1) === 0) return 'Sleeping';
  if (deploymentRolledOut(deployment)) return 'Ready';
  if (installedVersion && installedVersion !== desiredVersion) return 'Upgrading';
  return installedVersion ? 'NotReady' : 'Provisioning';
}

/** The version to record as installed: the desired one once Ready, otherwise what was there before. */
export function installedVersionAfter(status: VersionStatus, observation: VersionObservation): string | undefined {
  return status === 'Ready' ? observation.desiredVersion : observation.installedVersion;
}
