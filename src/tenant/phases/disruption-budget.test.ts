import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { withChecksum } from '../../controller/apply.ts';
import type { KubeClient } from '../../controller/kube-client.ts';
import { desiredDisruptionBudget } from '../steps/disruption-budget.ts';
import { DisruptionBudgetPhase } from './disruption-budget.ts';
import { owned } from './owned.ts';
import { type ClaimedSpec, type PipelineDependencies, TenantReconcile } from './phase.ts';

const tcp = {
  apiVersion: 'kamaji.clastix.io/v1alpha1',
  kind: 'TenantControlPlane',
  metadata: { name: 'acme', namespace: 'tenants', uid: 'u' },
  spec: {},
} as unknown as TenantControlPlane;
const PATH = '/apis/policy/v1/namespaces/tenants/poddisruptionbudgets/acme';

/** Runs the phase once for `replicas`, with `live` as the informer's copy; returns the API calls it made. */
async function run(replicas: number, live?: V1PodDisruptionBudget): Promise<string[]> {
  const calls: string[] = [];
  const client = {
    async request(method: string, path: string, options?: { body?: { preconditions?: unknown } }) {
      calls.push(`${method} ${path}${method === 'DELETE' ? ` ${JSON.stringify(options?.body?.preconditions)}` : ''}`);
      return options?.body ?? {};
    },
  } as unknown as KubeClient;
  const deps = { client, observed: { podDisruptionBudget: () => live } } as unknown as PipelineDependencies;
  const reconcile = new TenantReconcile('tenants/acme', tcp);
  reconcile.spec = { controlPlane: { deployment: { replicas } } } as unknown as ClaimedSpec;
  const outcome = await new DisruptionBudgetPhase(deps).run(reconcile);
  assert.deepEqual(outcome, {}, 'no condition of its own');
  return calls;
}

const tenant = { name: 'acme', namespace: 'tenants' };
const applied = withChecksum(owned(tcp, desiredDisruptionBudget({ tenant, replicas: 2 }) as V1PodDisruptionBudget));
const ours = { ...applied, metadata: { ...applied.metadata, uid: 'pdb-uid' } };

test('two replicas: the budget is applied once, owned by the TCP; unchanged, no call', async () => {
  assert.deepEqual(await run(2), [`PATCH ${PATH}`]);
  assert.deepEqual(await run(2, ours), []);
  assert.equal(applied.metadata?.ownerReferences?.[0]?.uid, 'u');
});

test('below two replicas: our budget is deleted (this very one), none is created, a foreign one stays', async () => {
  assert.deepEqual(await run(1, ours), [`DELETE ${PATH} {"uid":"pdb-uid"}`]);
  assert.deepEqual(await run(0, ours), [`DELETE ${PATH} {"uid":"pdb-uid"}`]);
  assert.deepEqual(await run(1), []);
  const foreign = { ...ours, metadata: { ...ours.metadata, ownerReferences: [] } };
  assert.deepEqual(await run(1, foreign), []);
});
