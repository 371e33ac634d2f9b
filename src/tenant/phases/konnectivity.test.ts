import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sampleContext } from '../../../test/support/tenant-context.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { ApiError, type KubeClient } from '../../controller/kube-client.ts';
import { konnectivitySecretNames, konnectivityStatus, reconcileEgressConfigMap } from './konnectivity.ts';

const tcp = (konnectivity?: Record<string, unknown>) =>
  ({
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    metadata: { name: 'acme', namespace: 't', uid: 'u' },
    spec: {},
    status: konnectivity ? { addons: { konnectivity } } : {},
  }) as unknown as TenantControlPlane;

const entries = { certificate: { secretName: 'acme-konnectivity-certificate', checksum: 'c' } };

test('enabled: enabled true with the entries', () => {
  assert.deepEqual(konnectivityStatus(tcp(), true, entries), {
    addons: { konnectivity: { enabled: true, ...entries } },
  });
});

test('never enabled: no status at all; disabled: enabled false and only the present keys removed', () => {
  assert.deepEqual(konnectivityStatus(tcp(), false, entries), {});
  assert.deepEqual(konnectivityStatus(tcp({ enabled: true, ...entries }), false, { ...entries, service: {} }), {
    addons: { konnectivity: { enabled: false, certificate: null } },
  });
  assert.deepEqual(konnectivityStatus(tcp({ enabled: false }), false, entries), {
    addons: { konnectivity: { enabled: false } },
  });
});

test('the Secrets removed with the addon carry upstream names', () => {
  assert.deepEqual(konnectivitySecretNames('acme'), ['acme-konnectivity-certificate', 'acme-konnectivity-kubeconfig']);
});

/** An API stand-in: records each call, answers a GET with `live` (404 when undefined), echoes the rest. */
function fakeClient(live?: Record<string, unknown>) {
  const calls: string[] = [];
  const client = {
    async request(method: string, path: string, options?: { body?: unknown }) {
      calls.push(`${method} ${path}`);
      if (method === 'GET') {
        if (!live) throw new ApiError(404, 'not found');
        return live;
      }
      if (method === 'DELETE')
        calls.push(JSON.stringify((options?.body as { preconditions?: unknown } | undefined)?.preconditions));
      return options?.body ?? {};
    },
  } as unknown as KubeClient;
  return { client, calls };
}

const PATH = '/api/v1/namespaces/tenants/configmaps/acme-konnectivity-egress-selector-configuration';
const server = { image: 'registry.k8s.io/kas-network-proxy/proxy-server', port: 8132 };

test('the egress ConfigMap: no call without Konnectivity; applied when enabled; deleted when disabled and ours', async () => {
  const never = fakeClient();
  assert.equal(await reconcileEgressConfigMap(never, tcp(), sampleContext()), undefined);
  assert.deepEqual(never.calls, [], 'a tenant that never had Konnectivity costs no call');

  const enabled = fakeClient();
  const result = await reconcileEgressConfigMap(enabled, tcp(), sampleContext({ konnectivity: server }));
  assert.equal(result?.name, 'acme-konnectivity-egress-selector-configuration');
  assert.match(result?.checksum ?? '', /^[0-9a-f]{64}$/);
  assert.deepEqual(enabled.calls, [`GET ${PATH}`, `PATCH ${PATH}`]);

  const ours = {
    metadata: { name: 'x', namespace: 'tenants', uid: 'cm-uid', ownerReferences: [{ controller: true, uid: 'u' }] },
  };
  const disabled = fakeClient({
    ...ours,
    metadata: { ...ours.metadata, name: 'acme-konnectivity-egress-selector-configuration' },
  });
  assert.equal(await reconcileEgressConfigMap(disabled, tcp({ enabled: true }), sampleContext()), undefined);
  assert.deepEqual(disabled.calls, [`GET ${PATH}`, `DELETE ${PATH}`, '{"uid":"cm-uid"}']);

  const foreign = fakeClient({
    metadata: { name: 'x', uid: 'cm', ownerReferences: [{ controller: true, uid: 'other' }] },
  });
  await reconcileEgressConfigMap(foreign, tcp({ enabled: true }), sampleContext());
  assert.deepEqual(foreign.calls, [`GET ${PATH}`], "another TCP's ConfigMap of that name stays");

  const done = fakeClient();
  await reconcileEgressConfigMap(done, tcp({ enabled: false }), sampleContext());
  assert.deepEqual(done.calls, [], 'once the removal is recorded, no more calls');
});
