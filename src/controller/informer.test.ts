import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import { type RecordedRequest, sendJson, startFakeApiServer } from '../../test/support/fake-api-server.ts';
import { waitFor } from '../util/wait.ts';
import { Informer } from './informer.ts';
import { builtinResources } from './kube-client.ts';
import { discardLog } from './log.ts';

function configMap(name: string, resourceVersion: string, data: Record<string, string> = {}): KubernetesObject {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name, namespace: 'ns', resourceVersion, managedFields: [{ manager: 'someone' }] },
    ...{ data },
  };
}

function watchEvent(response: ServerResponse, type: string, object: unknown): void {
  if (!response.headersSent) response.writeHead(200, { 'Content-Type': 'application/json' });
  response.write(`${JSON.stringify({ type, object })}\n`);
}

/** Records what the handlers hear as `add ns/a 3` (kind, key, resourceVersion). */
function recordHandlers(informer: Informer): string[] {
  const heard: string[] = [];
  const describe = (object: KubernetesObject) =>
    `${object.metadata?.namespace}/${object.metadata?.name} ${object.metadata?.resourceVersion}`;
  informer.addHandler({
    onAdd: (object) => heard.push(`add ${describe(object)}`),
    onUpdate: (previous, object) => heard.push(`update ${describe(previous)} -> ${object.metadata?.resourceVersion}`),
    onDelete: (object) => heard.push(`delete ${describe(object)}`),
  });
  return heard;
}

test('a dropped watch resumes from the last resourceVersion; 410 Gone relists and reports what changed meanwhile', async () => {
  const watches: ServerResponse[] = [];
  let lists = 0;
  const api = await startFakeApiServer((request: RecordedRequest, response) => {
    if (request.query.get('watch') !== 'true') {
      lists += 1;
      const items = lists === 1 ? [configMap('a', '10')] : [configMap('a', '12'), configMap('c', '15')];
      return sendJson(response, 200, { metadata: { resourceVersion: lists === 1 ? '10' : '15' }, items });
    }
    watches.push(response);
    if (watches.length === 1) {
      watchEvent(response, 'ADDED', configMap('b', '11'));
      watchEvent(response, 'MODIFIED', configMap('a', '12'));
      setTimeout(() => response.socket?.destroy(), 20);
    } else if (watches.length === 2) {
      watchEvent(response, 'ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old' });
      response.end();
    } else {
      watchEvent(response, 'BOOKMARK', { kind: 'ConfigMap', metadata: { resourceVersion: '20' } });
    }
  });
  const informer = new Informer({
    client: api.client,
    type: builtinResources.configMap,
    namespace: 'ns',
    log: discardLog,
  });
  const heard = recordHandlers(informer);
  try {
    informer.start();
    await informer.waitForSync();
    await waitFor(async () => (watches.length >= 3 ? true : undefined), { timeoutMs: 5_000, description: '3 watches' });
    await waitFor(async () => (heard.length >= 5 ? true : undefined), { timeoutMs: 5_000, description: 'events' });
    assert.deepEqual(heard, [
      'add ns/a 10',
      'add ns/b 11',
      'update ns/a 10 -> 12',
      // The relist after 410: b was deleted and c created while the watch was down; a is unchanged.
      'add ns/c 15',
      'delete ns/b 11',
    ]);
    const watchVersions = api.requests
      .filter((request) => request.query.get('watch') === 'true')
      .map((request) => request.query.get('resourceVersion'));
    assert.deepEqual(watchVersions, ['10', '12', '15']);
    assert.equal(lists, 2);
    assert.deepEqual(
      informer
        .list()
        .map((object) => object.metadata?.name)
        .sort(),
      ['a', 'c'],
    );
    assert.equal(informer.get('ns/a')?.metadata?.managedFields, undefined, 'managedFields are not kept');
  } finally {
    await informer.stop();
    await api.close();
  }
});

test('lists page by page, sends selectors, asks for metadata only when told, and applies the transform', async () => {
  const api = await startFakeApiServer((request, response) => {
    if (request.query.get('watch') === 'true')
      return watchEvent(response, 'BOOKMARK', { metadata: { resourceVersion: '7' } });
    const secondPage = request.query.get('continue') === 'page-2';
    sendJson(response, 200, {
      metadata: secondPage ? { resourceVersion: '7' } : { resourceVersion: '7', continue: 'page-2' },
      items: [configMap(secondPage ? 'second' : 'first', '7', { big: 'x'.repeat(1000) })],
    });
  });
  const informer = new Informer({
    client: api.client,
    type: builtinResources.secret,
    labelSelector: 'kamaji.clastix.io/name',
    metadataOnly: true,
    pageSize: 1,
    transform: (object) => ({
      metadata: { name: object.metadata?.name, resourceVersion: object.metadata?.resourceVersion },
    }),
    log: discardLog,
  });
  try {
    informer.start();
    await informer.waitForSync();
    assert.deepEqual(informer.get('ns/second'), { metadata: { name: 'second', resourceVersion: '7' } });
    assert.equal(informer.size, 2);
    const [first, second] = api.requests;
    assert.equal(first?.path, '/api/v1/secrets');
    assert.equal(first?.query.get('labelSelector'), 'kamaji.clastix.io/name');
    assert.equal(first?.query.get('limit'), '1');
    assert.match(String(first?.headers.accept), /as=PartialObjectMetadataList;g=meta\.k8s\.io;v=v1/);
    assert.equal(second?.query.get('continue'), 'page-2');
  } finally {
    await informer.stop();
    await api.close();
  }
});

test('waitForSync rejects when the informer is stopped before its first list', async () => {
  const api = await startFakeApiServer((_request, response) => sendJson(response, 500, { message: 'down' }));
  const informer = new Informer({ client: api.client, type: builtinResources.configMap, log: discardLog });
  try {
    informer.start();
    const synced = informer.waitForSync();
    await informer.stop();
    await assert.rejects(synced, /stopped before its first sync/);
    assert.equal(informer.hasSynced(), false);
  } finally {
    await api.close();
  }
});
