import assert from 'node:assert/strict';
import { test } from 'node:test';
import { backupMetadata } from '../../test/support/backup.ts';
import type { TenantControlPlane, TenantControlPlaneSpec } from '../api/v1alpha1/tenant-control-plane.ts';
import { encodeBackup } from './format.ts';
import {
  RESTORE_REPLICAS_ANNOTATION,
  RESTORED_FROM_ANNOTATION,
  restorableEntries,
  restoredTenantControlPlane,
  restoreStart,
} from './restore-plan.ts';

const spec = {
  dataStore: 'default',
  dataStoreSchema: 'source_schema',
  dataStoreUsername: 'source_user',
  controlPlane: { deployment: { replicas: 3 }, service: { serviceType: 'NodePort' } },
  kubernetes: { version: 'v1.35.4', kubelet: { cgroupfs: 'cgroupfs' } },
  networkProfile: { port: 31443 },
  addons: { coreDNS: {}, konnectivity: { server: { port: 31143 } } },
} as TenantControlPlaneSpec;

const { header } = encodeBackup(backupMetadata({ schema: 'source_schema', revision: 42, spec }), []);
const restoredFrom = `default/demo revision 42 sha256:${header.bodySha256}`;

test('the restored TCP: the backup spec asleep, its own schema and user, the target DataStore and ports', () => {
  const tcp = restoredTenantControlPlane(header, {
    namespace: 'restored',
    name: 'copy',
    dataStore: 'postgres',
    port: 31447,
    konnectivityPort: 31147,
  });
  assert.deepEqual(tcp.metadata, {
    name: 'copy',
    namespace: 'restored',
    annotations: {
      [RESTORED_FROM_ANNOTATION]: restoredFrom,
      [RESTORE_REPLICAS_ANNOTATION]: '3',
    },
  });
  assert.equal(tcp.spec.dataStore, 'postgres');
  assert.equal(tcp.spec.dataStoreSchema, undefined);
  assert.equal(tcp.spec.dataStoreUsername, undefined);
  assert.equal(tcp.spec.controlPlane.deployment?.replicas, 0);
  assert.equal(tcp.spec.networkProfile?.port, 31447);
  assert.equal(tcp.spec.addons?.konnectivity?.server?.port, 31147);
  // The header is left as it was.
  assert.equal(header.spec.controlPlane.deployment?.replicas, 3);
  assert.equal(header.spec.addons?.konnectivity?.server?.port, 31143);
});

test("without overrides: the backup's DataStore and ports; unset replicas restore to the default", () => {
  const { replicas: _replicas, ...deployment } = spec.controlPlane.deployment ?? {};
  const tcp = restoredTenantControlPlane(
    { ...header, spec: { ...spec, controlPlane: { ...spec.controlPlane, deployment } } },
    { namespace: 'default', name: 'copy' },
  );
  assert.equal(tcp.spec.dataStore, 'default');
  assert.equal(tcp.spec.networkProfile?.port, 31443);
  assert.equal(tcp.metadata.annotations?.[RESTORE_REPLICAS_ANNOTATION], '2');
});

test('an existing TCP: resumed only when it is a restore of this backup still under way', () => {
  assert.deepEqual(restoreStart(undefined, header), { action: 'create' });
  const pending = restoredTenantControlPlane(header, { namespace: 'default', name: 'copy' });
  assert.deepEqual(restoreStart(pending, header), { action: 'resume', replicas: 3 });
  const done: TenantControlPlane = {
    ...pending,
    metadata: {
      ...pending.metadata,
      annotations: { [RESTORED_FROM_ANNOTATION]: restoredFrom },
    },
  };
  const again = restoreStart(done, header);
  assert.equal(again.action, 'refuse');
  assert.match(again.action === 'refuse' ? again.message : '', /copy was already restored from this backup: .*--into/);
  const other = restoreStart(pending, { ...header, revision: 43 });
  assert.match(
    other.action === 'refuse' ? other.message : '',
    /TenantControlPlane default\/copy exists: restore creates a new tenant/,
  );
});

test("restorable keys: the source's leases and Nodes are left out and counted; the rest kept in order", () => {
  const keys = [
    'namespaces/default',
    'masterleases/10.0.0.5',
    'events/default/demo.1',
    'minions/demo-worker-1',
    'leases/kube-node-lease/demo-worker-1',
    'leases/kube-system/kube-scheduler',
    'leases/kube-system/apiserver-abc',
    'leases/default/my-app-lock',
    'csinodes/demo-worker-1',
    'configmaps/default/events-config',
    'secrets/kube-system/bootstrap-token-abcdef',
  ];
  const { kept, leftOut } = restorableEntries(keys.map((key) => ({ key, value: Buffer.from(key) })));
  assert.deepEqual(
    kept.map(({ key }) => key),
    [
      'namespaces/default',
      'events/default/demo.1',
      'leases/default/my-app-lock',
      'configmaps/default/events-config',
      'secrets/kube-system/bootstrap-token-abcdef',
    ],
  );
  assert.deepEqual(Object.fromEntries(leftOut), {
    "the source API servers' endpoint leases": 1,
    "the source's Nodes": 1,
    'Node heartbeats': 1,
    'leader leases': 1,
    'API server identity leases': 1,
    CSINodes: 1,
  });
});
