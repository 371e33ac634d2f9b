import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { applyTenantControlPlaneDefaults } from '../../api/v1alpha1/defaults.ts';
import type { TenantControlPlane, TenantControlPlaneSpec } from '../../api/v1alpha1/tenant-control-plane.ts';
import { ApiError, type CallOptions, type KubeClient } from '../../controller/kube-client.ts';
import { addonChecksum } from '../steps/addons/common.ts';
import { coreDNSObjects } from '../steps/addons/coredns.ts';
import type { TenantClients, TenantConnection } from '../tenant-clients.ts';
import { AddonsPhase } from './addons.ts';
import { Blocked, type ClaimedSpec, type PipelineDependencies, TenantReconcile } from './phase.ts';

const ENDPOINT = { address: '10.0.0.5', port: 31443 };

function specOf(addons: TenantControlPlaneSpec['addons']): ClaimedSpec {
  return {
    ...applyTenantControlPlaneDefaults({
      controlPlane: { service: { serviceType: 'NodePort' } },
      kubernetes: { version: 'v1.35.4', kubelet: {} },
      addons,
    } as TenantControlPlaneSpec),
    dataStore: 'default',
    dataStoreSchema: 'tenants_acme',
    dataStoreUsername: 'tenants_acme',
  };
}

function reconcileOf(spec: ClaimedSpec, versionStatus: string, status: object = {}): TenantReconcile {
  const tcp = {
    metadata: { name: 'acme', namespace: 'tenants', uid: 'u1', generation: 1 },
    spec,
    status,
  } as unknown as TenantControlPlane;
  const reconcile = new TenantReconcile('tenants/acme', tcp);
  reconcile.spec = spec;
  reconcile.endpoint = { service: {}, ...ENDPOINT };
  reconcile.observe({ kubernetesResources: { version: { status: versionStatus as 'Ready' } } });
  return reconcile;
}

/**
 * A tenant API server in memory: applies store the object by path, lists filter by the label selector, deletes
 * remove; `unreachable` makes every call fail without an answer. No admin-cluster call is expected at all.
 */
function fakeTenant() {
  const objects = new Map<string, KubernetesObject>();
  const calls: string[] = [];
  let unreachable = false;
  let refused = false;
  let uid = 0;
  const caller = {
    async request<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
      calls.push(`${method} ${path}`);
      if (unreachable) throw new Error(`${method} ${path}: connect ECONNREFUSED`);
      if (refused) throw new ApiError(403, `${method} ${path}: forbidden`);
      if (method === 'PATCH') {
        const body = options.body as KubernetesObject;
        const existing = objects.get(path);
        objects.set(path, { ...body, metadata: { ...body.metadata, uid: existing?.metadata?.uid ?? `uid-${uid++}` } });
        return objects.get(path) as T;
      }
      if (method === 'DELETE') {
        if (!objects.delete(path)) throw new ApiError(404, `${path} not found`);
        return {} as T;
      }
      const [key, value] = String(options.query?.labelSelector).split('=');
      const items = [...objects.entries()]
        .filter(([stored]) => stored.startsWith(`${path}/`) && !stored.slice(path.length + 1).includes('/'))
        .map(([, object]) => object)
        .filter((object) => key && object.metadata?.labels?.[key] === value);
      return { items } as T;
    },
  };
  const connection: TenantConnection = { server: 'https://10.0.0.5:31443', kubeconfig: '', caller, secret: 's' };
  const clients = { connect: async () => connection, forget: () => undefined } as unknown as TenantClients;
  const deps = {
    client: { request: () => assert.fail('no admin-cluster call expected') } as unknown as KubeClient,
  } as unknown as PipelineDependencies;
  return {
    objects,
    calls,
    phase: new AddonsPhase(deps, clients),
    down: () => {
      unreachable = true;
    },
    refuse: () => {
      refused = true;
    },
  };
}

const ALL = { coreDNS: {}, kubeProxy: {}, konnectivity: { server: { port: 8132 } } };
const labelled = (objects: Map<string, KubernetesObject>, addon: string) =>
  [...objects.values()].filter((object) => object.metadata?.labels?.['kamaji.clastix.io/addon'] === addon).length;

test('a control plane that never came up: Unknown, and no call at all', async () => {
  const tenant = fakeTenant();
  const outcome = await tenant.phase.run(reconcileOf(specOf(ALL), 'Provisioning'));
  assert.equal(outcome.condition?.status, 'Unknown');
  assert.match(outcome.condition?.message ?? '', /waiting for the control plane to be available to apply CoreDNS/);
  assert.deepEqual(tenant.calls, []);
});

test('no addon in the spec and none recorded: True, with no call, whether the control plane is up or not', async () => {
  const tenant = fakeTenant();
  for (const version of ['Provisioning', 'Ready']) {
    const reconcile = reconcileOf(specOf(undefined), version);
    const outcome = await tenant.phase.run(reconcile);
    assert.equal(outcome.condition?.status, 'True');
    assert.equal(outcome.condition?.reason, 'NoAddons');
    assert.equal(reconcile.status.addons?.coreDNS?.enabled, false);
  }
  assert.deepEqual(tenant.calls, []);
});

test('a recorded checksum that matches: True with no call, also after a restart and while asleep', async () => {
  const tenant = fakeTenant();
  const spec = specOf({ coreDNS: {} });
  const recorded = { addons: { coreDNS: { enabled: true, checksum: addonChecksum(coreDNSObjects(spec)) } } };
  assert.equal((await tenant.phase.run(reconcileOf(spec, 'Ready', recorded))).condition?.status, 'True');
  assert.equal((await tenant.phase.run(reconcileOf(spec, 'Sleeping', recorded))).condition?.status, 'True');
  assert.deepEqual(tenant.calls, []);
});

test('applied once available, recorded in the status; removing an addon deletes exactly its objects', async () => {
  const tenant = fakeTenant();
  const first = reconcileOf(specOf(ALL), 'Ready');
  const outcome = await tenant.phase.run(first);
  assert.equal(outcome.condition?.status, 'True');
  assert.equal(outcome.condition?.message, 'in the tenant: CoreDNS, kube-proxy, the konnectivity agent');
  assert.deepEqual([labelled(tenant.objects, 'coredns'), labelled(tenant.objects, 'kube-proxy')], [6, 6]);
  assert.equal(labelled(tenant.objects, 'konnectivity-agent'), 3);
  const status = first.status.addons;
  assert.equal(status?.coreDNS?.enabled, true);
  assert.match(status?.coreDNS?.checksum ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(
    { ...status?.konnectivity?.agent, lastUpdate: undefined, checksum: undefined },
    {
      name: 'konnectivity-agent',
      namespace: 'kube-system',
      mode: 'DaemonSet',
      lastUpdate: undefined,
      checksum: undefined,
    },
  );
  assert.deepEqual(status?.konnectivity?.clusterrolebinding?.name, 'system:konnectivity-server');
  // Someone else's object in kube-system, and one with another addon's label value.
  tenant.objects.set('/api/v1/namespaces/kube-system/configmaps/mine', { metadata: { name: 'mine' } });

  tenant.calls.length = 0;
  const again = await tenant.phase.run(reconcileOf(specOf(ALL), 'Ready', first.status));
  assert.equal(again.condition?.status, 'True');
  assert.deepEqual(tenant.calls, [], 'nothing changed: no call');

  const withoutDNS = reconcileOf(specOf({ ...ALL, coreDNS: undefined }), 'Ready', first.status);
  await tenant.phase.run(withoutDNS);
  assert.equal(labelled(tenant.objects, 'coredns'), 0);
  assert.equal(labelled(tenant.objects, 'kube-proxy'), 6);
  assert.equal(labelled(tenant.objects, 'konnectivity-agent'), 3);
  assert.ok(tenant.objects.has('/api/v1/namespaces/kube-system/configmaps/mine'));
  assert.equal(withoutDNS.status.addons?.coreDNS?.enabled, false);
  assert.equal(withoutDNS.status.addons?.coreDNS?.checksum, null, 'cleared');
});

test('switching the agent to Deployment mode deletes its DaemonSet', async () => {
  const tenant = fakeTenant();
  const first = reconcileOf(specOf(ALL), 'Ready');
  await tenant.phase.run(first);
  const daemonSet = '/apis/apps/v1/namespaces/kube-system/daemonsets/konnectivity-agent';
  const deployment = '/apis/apps/v1/namespaces/kube-system/deployments/konnectivity-agent';
  assert.ok(tenant.objects.has(daemonSet));
  const switched = reconcileOf(
    specOf({ ...ALL, konnectivity: { server: { port: 8132 }, agent: { mode: 'Deployment', replicas: 2 } } }),
    'Ready',
    first.status,
  );
  await tenant.phase.run(switched);
  assert.ok(!tenant.objects.has(daemonSet));
  assert.ok(tenant.objects.has(deployment));
  assert.equal(switched.status.addons?.konnectivity?.agent?.mode, 'Deployment');
});

test('an unreachable tenant: False TenantUnreachable naming the addon field, the object and the server', async () => {
  const tenant = fakeTenant();
  tenant.down();
  await assert.rejects(tenant.phase.run(reconcileOf(specOf({ coreDNS: {} }), 'Ready')), (error: unknown) => {
    assert.ok(error instanceof Blocked);
    assert.equal(error.condition.reason, 'TenantUnreachable');
    assert.match(error.condition.message, /spec\.addons\.coreDNS could not be applied/);
    assert.match(error.condition.message, /first ServiceAccount kube-system\/coredns/);
    assert.match(error.condition.message, /https:\/\/10\.0\.0\.5:31443/);
    return true;
  });
});

test('refused credentials: False ApplyFailed naming the Secret to delete', async () => {
  const tenant = fakeTenant();
  tenant.refuse();
  await assert.rejects(tenant.phase.run(reconcileOf(specOf({ kubeProxy: {} }), 'Ready')), (error: unknown) => {
    assert.ok(error instanceof Blocked);
    assert.equal(error.condition.reason, 'ApplyFailed');
    assert.match(error.condition.message, /spec\.addons\.kubeProxy could not be applied/);
    assert.match(error.condition.message, /refused the super-admin\.conf credentials; delete Secret s/);
    return true;
  });
});

test('removing konnectivity deletes the agent objects and clears the agent, sa and clusterrolebinding status', async () => {
  const tenant = fakeTenant();
  const first = reconcileOf(specOf(ALL), 'Ready');
  await tenant.phase.run(first);
  const removed = reconcileOf(specOf({ coreDNS: {}, kubeProxy: {} }), 'Ready', first.status);
  await tenant.phase.run(removed);
  assert.equal(labelled(tenant.objects, 'konnectivity-agent'), 0);
  assert.deepEqual(removed.status.addons?.konnectivity, {
    enabled: false,
    agent: null,
    sa: null,
    clusterrolebinding: null,
  });
  assert.equal(labelled(tenant.objects, 'coredns'), 6);
});
