import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sendJson, startFakeApiServer } from '../../test/support/fake-api-server.ts';
import { ApiError, builtinResources, hasStatus, objectKey, parseObjectKey, resourcePath } from './kube-client.ts';

test('resource paths for core and grouped, namespaced and cluster-scoped types', () => {
  const dataStores = {
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'DataStore',
    plural: 'datastores',
    namespaced: false,
  };
  assert.equal(resourcePath(builtinResources.secret), '/api/v1/secrets');
  assert.equal(resourcePath(builtinResources.secret, { namespace: 'a' }), '/api/v1/namespaces/a/secrets');
  assert.equal(
    resourcePath(builtinResources.deployment, { namespace: 'a', name: 'b', subresource: 'status' }),
    '/apis/apps/v1/namespaces/a/deployments/b/status',
  );
  assert.equal(resourcePath(dataStores, { name: 'default' }), '/apis/kamaji.clastix.io/v1alpha1/datastores/default');
  assert.throws(() => resourcePath(dataStores, { namespace: 'a' }), /cluster-scoped/);
  assert.throws(() => resourcePath(builtinResources.secret, { name: 'b' }), /needs a namespace/);
});

test('object keys are namespace/name, or name alone when cluster-scoped', () => {
  assert.equal(objectKey({ metadata: { namespace: 'a', name: 'b' } }), 'a/b');
  assert.equal(objectKey({ metadata: { name: 'b' } }), 'b');
  assert.deepEqual(parseObjectKey('a/b'), { namespace: 'a', name: 'b' });
  assert.deepEqual(parseObjectKey('b'), { name: 'b' });
  assert.throws(() => objectKey({ kind: 'Secret', metadata: {} }), /Secret without metadata\.name/);
});

test('requests send JSON and query parameters; an error status becomes an ApiError with its reason', async () => {
  const api = await startFakeApiServer((request, response) => {
    if (request.method === 'POST') return sendJson(response, 201, { echoed: JSON.parse(request.body) });
    if (request.path.endsWith('/missing')) {
      return sendJson(response, 404, {
        kind: 'Status',
        code: 404,
        reason: 'NotFound',
        message: 'secrets "missing" not found',
      });
    }
    response.writeHead(503).end('upstream unavailable');
  });
  try {
    const created = await api.client.request<{ echoed: unknown }>('POST', '/api/v1/namespaces/a/secrets', {
      body: { a: 1 },
      query: { dryRun: 'All', skipped: undefined },
    });
    assert.deepEqual(created.echoed, { a: 1 });
    assert.equal(api.requests[0]?.headers['content-type'], 'application/json');
    assert.equal(api.requests[0]?.query.toString(), 'dryRun=All');

    const missing = await api.client.request('GET', '/api/v1/namespaces/a/secrets/missing').catch((error) => error);
    assert.ok(missing instanceof ApiError);
    assert.equal(missing.reason, 'NotFound');
    assert.equal(hasStatus(missing, 404), true);
    assert.match(missing.message, /GET \/api\/v1\/namespaces\/a\/secrets\/missing: secrets "missing" not found/);

    await assert.rejects(
      api.client.stream('/other'),
      (error) => hasStatus(error, 503) && /upstream unavailable/.test(String(error)),
    );
  } finally {
    await api.close();
  }
});
