import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ApiCaller } from './apply.ts';
import { EventRecorder } from './events.ts';
import { ApiError, type CallOptions } from './kube-client.ts';
import { discardLog } from './log.ts';

interface Call {
  method: string;
  path: string;
  body: Record<string, unknown>;
}

/** Records calls; `expired` names Events whose PATCH answers 404, as after the API server's event TTL. */
function eventApi(expired = new Set<string>()): { client: ApiCaller; calls: Call[] } {
  const calls: Call[] = [];
  const client: ApiCaller = {
    request: async <T>(method: string, path: string, options: CallOptions = {}): Promise<T> => {
      calls.push({ method, path, body: options.body as Record<string, unknown> });
      if (method === 'PATCH' && expired.has(path.split('/').pop() ?? '')) throw new ApiError(404, 'gone', 'NotFound');
      return {} as T;
    },
  };
  return { client, calls };
}

const tenant = {
  apiVersion: 'kamaji.clastix.io/v1alpha1',
  kind: 'TenantControlPlane',
  metadata: { name: 'tenant-a', namespace: 'ns', uid: 'u-1', resourceVersion: '5' },
};

test('a repeated event increments the count of the Event written first', async () => {
  const { client, calls } = eventApi();
  const recorder = new EventRecorder({ client, component: 'kamaji', instance: 'pod-1', log: discardLog });
  await Promise.all([
    recorder.record(tenant, 'Warning', 'DataStoreUnreachable', 'dial tcp: refused'),
    recorder.record(tenant, 'Warning', 'DataStoreUnreachable', 'dial tcp: refused'),
  ]);
  await recorder.record(tenant, 'Warning', 'DataStoreUnreachable', 'dial tcp: refused');
  assert.deepEqual(
    calls.map((call) => call.method),
    ['POST', 'PATCH', 'PATCH'],
  );
  const created = calls[0]!.body;
  assert.equal(calls[0]!.path, '/api/v1/namespaces/ns/events');
  assert.deepEqual(created.involvedObject, {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    name: 'tenant-a',
    namespace: 'ns',
    uid: 'u-1',
    resourceVersion: '5',
  });
  assert.equal(created.type, 'Warning');
  assert.equal(created.count, 1);
  assert.equal(created.reportingComponent, 'kamaji');
  const name = (created.metadata as { name: string }).name;
  assert.match(name, /^tenant-a\.[0-9a-f]+$/);
  assert.equal(calls[1]!.path, `/api/v1/namespaces/ns/events/${name}`);
  assert.deepEqual(
    calls.slice(1).map((call) => call.body.count),
    [2, 3],
  );
});

test('a different reason or message is another Event; an expired Event is created anew', async () => {
  const expired = new Set<string>();
  const { client, calls } = eventApi(expired);
  const recorder = new EventRecorder({ client, component: 'kamaji', log: discardLog });
  await recorder.record(tenant, 'Normal', 'Ready', 'all components are ready');
  await recorder.record(tenant, 'Normal', 'Ready', 'the API server is ready');
  assert.deepEqual(
    calls.map((call) => call.method),
    ['POST', 'POST'],
  );
  expired.add((calls[0]!.body.metadata as { name: string }).name);
  await recorder.record(tenant, 'Normal', 'Ready', 'all components are ready');
  assert.deepEqual(
    calls.map((call) => call.method),
    ['POST', 'POST', 'PATCH', 'POST'],
  );
  assert.equal(calls[3]!.body.count, 1);
});

test('events about cluster-scoped objects go to the default namespace; failures are logged, never thrown', async () => {
  const logged: string[] = [];
  const calls: string[] = [];
  const client: ApiCaller = {
    request: async (_method: string, path: string) => {
      calls.push(path);
      throw new Error('API server unavailable');
    },
  };
  const recorder = new EventRecorder({ client, component: 'kamaji', log: (message) => logged.push(message) });
  const dataStore = { apiVersion: 'kamaji.clastix.io/v1alpha1', kind: 'DataStore', metadata: { name: 'default' } };
  await recorder.record(dataStore, 'Warning', 'Unreachable', 'x');
  assert.deepEqual(calls, ['/api/v1/namespaces/default/events']);
  assert.match(logged[0] ?? '', /Unreachable on DataStore \/default: API server unavailable/);
});

test('the recorder forgets the least recently recorded events beyond its memory', async () => {
  const { client, calls } = eventApi();
  const recorder = new EventRecorder({ client, component: 'kamaji', memory: 2, log: discardLog });
  for (const reason of ['A', 'B', 'A', 'C', 'A', 'B']) await recorder.record(tenant, 'Normal', reason, 'm');
  // A stays remembered (recently used); B is forgotten when C arrives, so its repeat creates a new Event.
  assert.deepEqual(
    calls.map((call) => `${call.method} ${call.body.reason ?? ''}`.trim()),
    ['POST A', 'POST B', 'PATCH', 'POST C', 'PATCH', 'POST B'],
  );
});

test('mirrored to the log, an event carries its object as fields, a Warning at level error', async () => {
  const { client } = eventApi();
  const lines: [string, Record<string, unknown> | undefined][] = [];
  const recorder = new EventRecorder({
    client,
    component: 'kamaji',
    log: (message, fields) => lines.push([message, fields]),
    mirrorToLog: true,
  });
  await recorder.record(tenant, 'Warning', 'DataStoreUnreachable', 'dial tcp: refused');
  assert.deepEqual(lines, [
    [
      'dial tcp: refused',
      { level: 'error', kind: 'TenantControlPlane', namespace: 'ns', name: 'tenant-a', reason: 'DataStoreUnreachable' },
    ],
  ]);
});
