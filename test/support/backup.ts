import type { TenantControlPlaneSpec } from '../../src/api/v1alpha1/tenant-control-plane.ts';
import type { BackupMetadata } from '../../src/backup/format.ts';

/** A backup header's given fields, as `kamaji backup` fills them for the demo tenant on etcd; `changes` on top. */
export function backupMetadata(changes: Partial<BackupMetadata> = {}): BackupMetadata {
  return {
    createdAt: '2026-12-01T06:00:00.000Z',
    tenant: { namespace: 'default', name: 'demo', uid: '0b5e-1' },
    kubernetesVersion: 'v1.35.4',
    dataStore: { name: 'default', driver: 'etcd' },
    schema: 'demo_schema',
    revision: 4711,
    spec: {
      kubernetes: { version: 'v1.35.4' },
      controlPlane: { deployment: { replicas: 1 } },
    } as TenantControlPlaneSpec,
    ...changes,
  };
}
