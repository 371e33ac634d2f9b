import { API_VERSION } from '../api/v1alpha1/group-version.ts';
import { DEFAULT_REPLICAS, type TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import type { BackupEntry, BackupHeader } from './format.ts';

/**
 * What a restore creates and writes, decided without I/O: the new TenantControlPlane (the backup's spec, asleep
 * until its keys are written), the keys to write, and whether an existing TCP is a restore to resume.
 */

/** On a restored TCP: which backup it came from (tenant, revision, body checksum). Stays as a record. */
export const RESTORED_FROM_ANNOTATION = 'backup.kamaji.clastix.io/restored-from';
/** On a TCP whose restore is under way: the replicas to give it once its keys are written; removed then. */
export const RESTORE_REPLICAS_ANNOTATION = 'backup.kamaji.clastix.io/restore-replicas';

export interface RestoreTarget {
  namespace: string;
  name: string;
  /** The DataStore to restore into; the backup's own when unset. */
  dataStore?: string;
  /** spec.networkProfile.port (the node port with a NodePort Service), when the backup's is taken. */
  port?: number;
  /** spec.addons.konnectivity.server.port, likewise. */
  konnectivityPort?: number;
}

export function restoredFrom(header: BackupHeader): string {
  const { namespace, name } = header.tenant;
  return `${namespace}/${name} revision ${header.revision} sha256:${header.bodySha256}`;
}

/**
 * The TCP to create: the backup's spec with the target's DataStore and ports, a schema and user of its own
 * (derived from its UID by the operator: the source's may still be in use), and zero replicas, so that no API
 * server writes to its key space before the backup's keys are in it.
 */
export function restoredTenantControlPlane(header: BackupHeader, target: RestoreTarget): TenantControlPlane {
  const { dataStoreSchema: _schema, dataStoreUsername: _user, ...spec } = structuredClone(header.spec);
  const deployment = spec.controlPlane.deployment ?? {};
  const replicas = deployment.replicas ?? DEFAULT_REPLICAS;
  spec.controlPlane.deployment = { ...deployment, replicas: 0 };
  spec.dataStore = target.dataStore ?? header.dataStore.name;
  if (target.port !== undefined) spec.networkProfile = { ...spec.networkProfile, port: target.port };
  const konnectivity = spec.addons?.konnectivity;
  if (target.konnectivityPort !== undefined && konnectivity) {
    konnectivity.server = { ...konnectivity.server, port: target.konnectivityPort };
  }
  return {
    apiVersion: API_VERSION,
    kind: 'TenantControlPlane',
    metadata: {
      name: target.name,
      namespace: target.namespace,
      annotations: {
        [RESTORED_FROM_ANNOTATION]: restoredFrom(header),
        [RESTORE_REPLICAS_ANNOTATION]: String(replicas),
      },
    },
    spec,
  };
}

/** What to do about the target TCP: create it, resume a restore of this same backup, or refuse (why and the fix). */
export function restoreStart(
  existing: TenantControlPlane | undefined,
  header: BackupHeader,
): { action: 'create' } | { action: 'resume'; replicas: number } | { action: 'refuse'; message: string } {
  if (!existing) return { action: 'create' };
  const where = `TenantControlPlane ${existing.metadata.namespace}/${existing.metadata.name}`;
  const annotations = existing.metadata.annotations ?? {};
  const replicas = Number(annotations[RESTORE_REPLICAS_ANNOTATION]);
  if (annotations[RESTORED_FROM_ANNOTATION] === restoredFrom(header) && Number.isInteger(replicas)) {
    return { action: 'resume', replicas };
  }
  const fix = 'restore creates a new tenant: choose another --into, or delete that TCP first';
  return annotations[RESTORED_FROM_ANNOTATION] === restoredFrom(header)
    ? { action: 'refuse', message: `${where} was already restored from this backup: ${fix}` }
    : { action: 'refuse', message: `${where} exists: ${fix}` };
}

/**
 * Keys a restore leaves out, each with why: state that belongs to the source's running processes and machines,
 * not to the tenant's objects. The API servers' endpoint leases name the source's pods (Events, also leased, are
 * kept with what was left of their lease); Nodes and their heartbeats name machines that trust the source's CA and
 * cannot join the new tenant (their Pods are deleted by the tenant's pod garbage collector and recreated by their
 * controllers on the new tenant's workers); the leader and identity leases name the source's pods.
 */
export const LEFT_OUT_ON_RESTORE: readonly { prefix: string; what: string }[] = [
  { prefix: 'masterleases/', what: "the source API servers' endpoint leases" },
  { prefix: 'minions/', what: "the source's Nodes" },
  { prefix: 'leases/kube-node-lease/', what: 'Node heartbeats' },
  { prefix: 'csinodes/', what: 'CSINodes' },
  { prefix: 'leases/kube-system/kube-controller-manager', what: 'leader leases' },
  { prefix: 'leases/kube-system/kube-scheduler', what: 'leader leases' },
  { prefix: 'leases/kube-system/apiserver-', what: 'API server identity leases' },
];

/** The entries to write, and how many were left out, by what. */
export function restorableEntries(entries: readonly BackupEntry[]): {
  kept: BackupEntry[];
  leftOut: Map<string, number>;
} {
  const kept: BackupEntry[] = [];
  const leftOut = new Map<string, number>();
  for (const entry of entries) {
    const rule = LEFT_OUT_ON_RESTORE.find(({ prefix }) => entry.key.startsWith(prefix));
    if (rule) leftOut.set(rule.what, (leftOut.get(rule.what) ?? 0) + 1);
    else kept.push(entry);
  }
  return { kept, leftOut };
}
