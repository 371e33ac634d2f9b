import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ConfigMap } from '@kubernetes/client-node';
import {
  type ApiCaller,
  applyIfChanged,
  CHECKSUM_ANNOTATION,
  checksum,
  controllerReference,
  patchStatus,
  serverSideApply,
  withChecksum,
} from './apply.ts';
import { builtinResources, type CallOptions } from './kube-client.ts';

interface Call {
  method: string;
  path: string;
  options: CallOptions;
}

/** An ApiCaller that records each call and answers with the body it was sent. */
function recordingCaller(): { client: ApiCaller; calls: Call[] } {
  const calls: Call[] = [];
  const client: ApiCaller = {
    request: async <T>(method: string, path: string, options: CallOptions = {}): Promise<T> => {
      calls.push({ method, path, options });
      return options.body as T;
    },
  };
  return { client, calls };
}

const desired: V1ConfigMap = {
  apiVersion: 'v1',
  kind: 'ConfigMap',
  metadata: { name: 'settings', namespace: 'tenant-a', labels: { 'kamaji.clastix.io/name': 'tenant-a' } },
  data: { mode: 'fast' },
};

test('checksums ignore key order and undefined fields but see every value', () => {
  assert.equal(checksum({ a: 1, b: { c: [1, 2], d: undefined } }), checksum({ b: { c: [1, 2] }, a: 1 }));
  assert.notEqual(checksum({ a: 1, b: { c: [1, 2] } }), checksum({ a: 1, b: { c: [2, 1] } }));
  assert.match(checksum('x'), /^[0-9a-f]{64}$/);
});

test('withChecksum marks a copy, and marking it again gives the same checksum', () => {
  const marked = withChecksum(desired);
  assert.equal(desired.metadata?.annotations, undefined, 'the input is not changed');
  const mark = marked.metadata?.annotations?.[CHECKSUM_ANNOTATION];
  assert.match(String(mark), /^[0-9a-f]{64}$/);
  assert.equal(withChecksum(marked).metadata?.annotations?.[CHECKSUM_ANNOTATION], mark);
  assert.notEqual(
    withChecksum({ ...desired, data: { mode: 'slow' } }).metadata?.annotations?.[CHECKSUM_ANNOTATION],
    mark,
  );
});

test('server-side apply is a forced PATCH as field manager kamaji with the apply content type', async () => {
  const { client, calls } = recordingCaller();
  await serverSideApply(client, builtinResources.configMap, desired);
  assert.deepEqual(calls[0]?.method, 'PATCH');
  assert.equal(calls[0]?.path, '/api/v1/namespaces/tenant-a/configmaps/settings');
  assert.deepEqual(calls[0]?.options.query, { fieldManager: 'kamaji', force: true });
  assert.equal(calls[0]?.options.contentType, 'application/apply-patch+yaml');
  await assert.rejects(serverSideApply(client, builtinResources.configMap, { metadata: {} }), /without metadata\.name/);
});

test('applyIfChanged skips the write when the live object carries the desired checksum', async () => {
  const { client, calls } = recordingCaller();
  const first = await applyIfChanged(client, builtinResources.configMap, desired, undefined);
  assert.equal(first.applied, true);
  const live = first.applied ? first.object : undefined;
  assert.deepEqual(await applyIfChanged(client, builtinResources.configMap, desired, live), { applied: false });
  const changed = await applyIfChanged(
    client,
    builtinResources.configMap,
    { ...desired, data: { mode: 'slow' } },
    live,
  );
  assert.equal(changed.applied, true);
  assert.equal(calls.length, 2);
});

test('a controller reference names the owner and blocks its deletion until dependents are gone', () => {
  const owner = {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    metadata: { name: 't', uid: 'u-1' },
  };
  assert.deepEqual(controllerReference(owner), {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    name: 't',
    uid: 'u-1',
    controller: true,
    blockOwnerDeletion: true,
  });
  assert.throws(() => controllerReference({ ...owner, metadata: { name: 't' } }), /uid/);
});

test('patchStatus merge-patches the status subresource, with the resourceVersion as precondition when given', async () => {
  const { client, calls } = recordingCaller();
  const type = { apiVersion: 'kamaji.clastix.io/v1alpha1', kind: 'DataStore', plural: 'datastores', namespaced: false };
  await patchStatus(client, type, { name: 'default', resourceVersion: '42' }, { ready: true });
  assert.equal(calls[0]?.path, '/apis/kamaji.clastix.io/v1alpha1/datastores/default/status');
  assert.equal(calls[0]?.options.contentType, 'application/merge-patch+json');
  assert.deepEqual(calls[0]?.options.body, { metadata: { resourceVersion: '42' }, status: { ready: true } });
});
