import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyTenantControlPlaneDefaults } from '../../api/v1alpha1/defaults.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { ApiError, type KubeClient } from '../../controller/kube-client.ts';
import { kubeadmObjectsChecksum, kubeadmSettings } from '../steps/kubeadm.ts';
import { KubeadmPhase } from './kubeadm.ts';
import { Blocked, type ClaimedSpec, type PipelineDependencies, TenantReconcile } from './phase.ts';

const ENDPOINT = { address: '10.0.0.5', port: 31443 };
const spec = {
  ...applyTenantControlPlaneDefaults({
    controlPlane: { service: { serviceType: 'NodePort' } },
    kubernetes: { version: 'v1.35.4', kubelet: {} },
  } as Parameters<typeof applyTenantControlPlaneDefaults>[0]),
  dataStore: 'default',
  dataStoreSchema: 'tenants_acme',
  dataStoreUsername: 'tenants_acme',
} as ClaimedSpec;

/** An admin-cluster client that records each call and answers 404. */
function recordingDeps() {
  const calls: string[] = [];
  const client = {
    request: async (method: string, path: string) => {
      calls.push(`${method} ${path}`);
      throw new ApiError(404, `${method} ${path}: not found`);
    },
  } as unknown as KubeClient;
  return { calls, deps: { client } as unknown as PipelineDependencies };
}

function reconcileOf(versionStatus: string, recordedChecksum?: string): TenantReconcile {
  const tcp = {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    metadata: { name: 'acme', namespace: 'tenants', uid: 'u1', generation: 1 },
    spec,
    status: recordedChecksum ? { kubeadmPhase: { bootstrapToken: { checksum: recordedChecksum } } } : {},
  } as unknown as TenantControlPlane;
  const reconcile = new TenantReconcile('tenants/acme', tcp);
  reconcile.spec = spec;
  reconcile.endpoint = { service: {}, ...ENDPOINT };
  reconcile.observe({
    certificates: { ca: { secretName: 'acme-ca', checksum: 'ca-1' } },
    kubernetesResources: { version: { status: versionStatus as 'Ready' } },
  });
  return reconcile;
}

test('a control plane that is not available: Unknown, waiting for it, and no call at all', async () => {
  const { calls, deps } = recordingDeps();
  const outcome = await new KubeadmPhase(deps).run(reconcileOf('Provisioning'));
  assert.equal(outcome.condition?.status, 'Unknown');
  assert.match(outcome.condition?.message ?? '', /waiting for the control plane/);
  assert.deepEqual(calls, []);
});

test('the recorded checksum matching what is wanted: True with no call, even after a restart of the manager', async () => {
  const { calls, deps } = recordingDeps();
  const recorded = kubeadmObjectsChecksum(kubeadmSettings('acme', spec, ENDPOINT), 'ca-1');
  const phase = new KubeadmPhase(deps);
  assert.equal((await phase.run(reconcileOf('Ready', recorded))).condition?.status, 'True');
  // Asleep at zero replicas, the objects are still in the tenant's datastore.
  const asleep = reconcileOf('Sleeping', recorded);
  assert.equal((await phase.run(asleep)).condition?.status, 'True');
  assert.equal(asleep.status.kubeadmPhase, undefined, 'nothing new to record');
  assert.deepEqual(calls, []);
});

test('a change with the control plane available applies; a missing admin kubeconfig is reported naming the Secret', async () => {
  const { calls, deps } = recordingDeps();
  const recorded = kubeadmObjectsChecksum(kubeadmSettings('acme', spec, { ...ENDPOINT, port: 31444 }), 'ca-1');
  const run = new KubeadmPhase(deps).run(reconcileOf('Ready', recorded));
  await assert.rejects(run, (error: unknown) => {
    assert.ok(error instanceof Blocked);
    assert.equal(error.condition.status, 'False');
    assert.equal(error.condition.reason, 'AdminKubeconfigMissing');
    assert.match(error.condition.message, /Secret tenants\/acme-admin-kubeconfig has no super-admin\.conf/);
    return true;
  });
  assert.deepEqual(calls, ['GET /api/v1/namespaces/tenants/secrets/acme-admin-kubeconfig']);
});
