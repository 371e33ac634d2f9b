import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { V1Condition } from '@kubernetes/client-node';
import { type FakeApiServer, sendJson, startFakeApiServer } from '../../test/support/fake-api-server.ts';
import type { DataStore, DataStoreSpec } from '../api/v1alpha1/datastore.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import type { EventType } from '../controller/events.ts';
import type { DataStoreConnection } from '../datastore/connections.ts';
import { DATASTORE_FINALIZER, DataStoreReconciler, RECHECK_MS, tenantsUsing } from './datastore-reconciler.ts';

const PATH = '/apis/kamaji.clastix.io/v1alpha1/datastores/shared';
const OTHER_FINALIZER = 'example.com/backup';

/**
 * One DataStore in a stand-in API server that keeps resourceVersions as the real one does: a write carrying an
 * outdated resourceVersion gets 409, any accepted write bumps it. `beforeWrite` runs before each PATCH is judged
 * (another controller acting between our read and our write).
 */
async function dataStoreServer(spec: DataStoreSpec, beforeWrite: (stored: DataStore) => void = () => undefined) {
  let version = 1;
  const stored: DataStore = {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'DataStore',
    metadata: { name: 'shared', uid: 'u1', generation: 1, resourceVersion: '1' },
    spec,
  };
  const api = await startFakeApiServer((request, response) => {
    if (request.method === 'GET' && request.path === PATH) return sendJson(response, 200, stored);
    if (request.method !== 'PATCH' || !request.path.startsWith(PATH)) return sendJson(response, 404, {});
    beforeWrite(stored);
    const patch = JSON.parse(request.body) as { metadata?: Partial<DataStore['metadata']>; status?: object };
    const expected = patch.metadata?.resourceVersion;
    if (expected !== undefined && expected !== stored.metadata.resourceVersion) {
      return sendJson(response, 409, { kind: 'Status', code: 409, reason: 'Conflict', message: 'modified' });
    }
    if (request.path.endsWith('/status')) stored.status = { ...stored.status, ...patch.status } as DataStore['status'];
    else if (patch.metadata?.finalizers) stored.metadata.finalizers = patch.metadata.finalizers;
    version += 1;
    stored.metadata.resourceVersion = String(version);
    return sendJson(response, 200, stored);
  });
  return { api, stored };
}

function reconcilerFor(api: FakeApiServer, reachable = true, options: { rotated?: boolean; usedBy?: string[] } = {}) {
  const events: { type: EventType; reason: string; message: string }[] = [];
  const connected: string[] = [];
  const requeued: string[] = [];
  const tenants = (options.usedBy ?? []).map(
    (key) =>
      ({
        metadata: { namespace: key.split('/')[0], name: key.split('/')[1] },
        spec: { dataStore: 'shared' },
      }) as TenantControlPlane,
  );
  const reconciler = new DataStoreReconciler({
    client: api.client,
    events: {
      record: async (_object, type, reason, message) => {
        events.push({ type, reason, message });
      },
    },
    tenants: { list: () => tenants },
    requeueTenants: (keys) => requeued.push(...keys),
    connections: {
      connectionFor: async (dataStore) => {
        connected.push(dataStore.metadata.name ?? '');
        const check = async () => {
          if (!reachable) throw new Error('etcd at etcd-0:2379 is unreachable');
        };
        return { driver: { check } } as unknown as DataStoreConnection;
      },
      refresh: async () => options.rotated ?? false,
      retire: () => undefined,
    },
    now: () => new Date('2025-01-01T00:00:00Z'),
  });
  return { reconciler, events, connected, requeued };
}

const validSpec: DataStoreSpec = { driver: 'etcd', endpoints: ['etcd-0:2379'] };
const servers: FakeApiServer[] = [];
after(() => Promise.all(servers.map((api) => api.close())));

test("the DataStore finalizer is added as a compare-and-swap: another controller's finalizer added meanwhile is kept", async () => {
  let raced = false;
  const { api, stored } = await dataStoreServer(validSpec, (current) => {
    // Between our read and our first write, someone else adds theirs.
    if (raced) return;
    raced = true;
    current.metadata.finalizers = [OTHER_FINALIZER];
    current.metadata.resourceVersion = '100';
  });
  servers.push(api);
  const { reconciler } = reconcilerFor(api);

  await assert.rejects(reconciler.reconcile('shared'), /modified/, 'the stale write is refused (and retried)');
  await reconciler.reconcile('shared');
  assert.deepEqual(stored.metadata.finalizers, [OTHER_FINALIZER, DATASTORE_FINALIZER]);
  const finalizerWrites = api.requests.filter((request) => request.method === 'PATCH' && request.path === PATH);
  for (const write of finalizerWrites) {
    assert.ok(JSON.parse(write.body).metadata.resourceVersion, 'every finalizer write names the version it read');
  }
});

test('an invalid DataStore gets Valid=False naming the field and the fix, a Warning, and no connection', async () => {
  const { api, stored } = await dataStoreServer({ driver: 'etcd', endpoints: ['etcd-0:2379', 'https://etcd-1:2379'] });
  servers.push(api);
  const { reconciler, events, connected } = reconcilerFor(api);

  assert.deepEqual(await reconciler.reconcile('shared'), {}, 'no periodic recheck: the next spec change reconciles');
  const valid = stored.status?.conditions?.find((condition: V1Condition) => condition.type === 'Valid');
  assert.equal(valid?.status, 'False');
  assert.equal(valid?.reason, 'InvalidSpec');
  assert.equal(
    valid?.message,
    'spec.endpoints[1]: "https://etcd-1:2379" has a URL scheme; write it as host:port without "https://" (Kamaji adds it): etcd-1:2379',
  );
  assert.equal(stored.status?.ready, false);
  assert.deepEqual(connected, [], 'an invalid DataStore is not connected to');
  assert.deepEqual(
    events.map((event) => `${event.type} ${event.reason}`),
    ['Warning InvalidSpec'],
  );
});

test('a valid, reachable DataStore is Ready with Valid=True; an unchanged status is not written again', async () => {
  const { api, stored } = await dataStoreServer(validSpec);
  servers.push(api);
  const { reconciler } = reconcilerFor(api);

  assert.deepEqual(await reconciler.reconcile('shared'), { requeueAfterMs: RECHECK_MS }, 'checked again periodically');
  assert.equal(stored.status?.ready, true);
  assert.deepEqual(stored.status?.usedBy, []);
  assert.equal(stored.status?.observedGeneration, 1);
  assert.deepEqual(
    stored.status?.conditions?.map(({ type, status, reason }) => ({ type, status, reason })),
    [{ type: 'Valid', status: 'True', reason: 'Valid' }],
  );
  const statusWrites = () => api.requests.filter((request) => request.path.endsWith('/status')).length;
  assert.equal(statusWrites(), 1);
  await reconciler.reconcile('shared');
  assert.equal(statusWrites(), 1, 'nothing changed, nothing written');
});

test('an unreachable DataStore is valid but not ready, with a Warning saying why', async () => {
  const { api, stored } = await dataStoreServer(validSpec);
  servers.push(api);
  const { reconciler, events } = reconcilerFor(api, false);

  await reconciler.reconcile('shared');
  assert.equal(stored.status?.ready, false);
  assert.equal(stored.status?.conditions?.[0]?.status, 'True');
  assert.deepEqual(
    events.map((event) => `${event.type} ${event.reason}: ${event.message}`),
    ['Warning NotReady: etcd at etcd-0:2379 is unreachable'],
  );
});

test('a deleted DataStore no tenant uses loses only our finalizer, by compare-and-swap', async () => {
  const { api, stored } = await dataStoreServer(validSpec);
  servers.push(api);
  stored.metadata.deletionTimestamp = new Date('2025-01-01T00:00:00Z');
  stored.metadata.finalizers = [OTHER_FINALIZER, DATASTORE_FINALIZER];
  const { reconciler } = reconcilerFor(api);

  await reconciler.reconcile('shared');
  assert.deepEqual(stored.metadata.finalizers, [OTHER_FINALIZER]);
  const [write] = api.requests.filter((request) => request.method === 'PATCH');
  assert.equal(JSON.parse(write?.body ?? '{}').metadata.resourceVersion, '1');
});

test('credentials rotated in its Secrets: an Event, and every tenant on it reconciled with the new ones', async () => {
  const { api } = await dataStoreServer(validSpec);
  servers.push(api);
  const rotated = reconcilerFor(api, true, { rotated: true, usedBy: ['a/one', 'b/two'] });
  await rotated.reconciler.reconcile('shared');
  assert.deepEqual(rotated.requeued, ['a/one', 'b/two']);
  assert.deepEqual(
    rotated.events.map((event) => `${event.type} ${event.reason}`),
    ['Normal CredentialsChanged'],
  );
  const unchanged = reconcilerFor(api, true, { rotated: false, usedBy: ['a/one'] });
  await unchanged.reconciler.reconcile('shared');
  assert.deepEqual(unchanged.requeued, [], 'nothing changed: no tenant woken');
});

test('a DataStore is in use by both ends of a migration, until its record is gone', () => {
  const moving = {
    metadata: { namespace: 'a', name: 'moving' },
    spec: { dataStore: 'target' },
    status: {
      storage: { dataStoreName: 'source', migration: { source: 'source', target: 'target', step: 'Copying' } },
    },
  } as TenantControlPlane;
  const settled = { metadata: { namespace: 'b', name: 'settled' }, spec: { dataStore: 'other' } } as TenantControlPlane;
  assert.deepEqual(tenantsUsing([moving, settled], 'source'), ['a/moving']);
  assert.deepEqual(tenantsUsing([moving, settled], 'target'), ['a/moving']);
  assert.deepEqual(tenantsUsing([moving, settled], 'other'), ['b/settled']);
  assert.deepEqual(tenantsUsing([moving, settled], 'unused'), []);
});
