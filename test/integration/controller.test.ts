import assert from 'node:assert/strict';
import { createServer, connect as netConnect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import type { KubernetesObject, V1ConfigMap } from '@kubernetes/client-node';
import {
  applyIfChanged,
  CHECKSUM_ANNOTATION,
  controllerReference,
  patchStatus,
  serverSideApply,
  withChecksum,
} from '../../src/controller/apply.ts';
import { accessFromKubeconfig, type ClusterAccess } from '../../src/controller/cluster-access.ts';
import { EventRecorder } from '../../src/controller/events.ts';
import { Informer } from '../../src/controller/informer.ts';
import {
  builtinResources,
  type CallOptions,
  hasStatus,
  KubeClient,
  parseObjectKey,
  type ResourceType,
  resourcePath,
} from '../../src/controller/kube-client.ts';
import { LeaderElector } from '../../src/controller/leader-election.ts';
import { runWorkers, WorkQueue } from '../../src/controller/work-queue.ts';
import { waitFor } from '../../src/util/wait.ts';
import { useControlPlane } from '../support/control-plane.ts';

const NAMESPACE = 'controller-test';

/** A KubeClient that remembers each call, to tell lists from watches and see where a watch resumed. */
class RecordingClient extends KubeClient {
  readonly calls: { method: string; path: string; query: CallOptions['query'] }[] = [];

  override request<T>(method: string, path: string, options: CallOptions = {}): Promise<T> {
    this.calls.push({ method, path, query: options.query });
    return super.request<T>(method, path, options);
  }

  override stream(path: string, options: CallOptions = {}) {
    this.calls.push({ method: 'WATCH', path, query: options.query });
    return super.stream(path, options);
  }
}

/** A TCP relay in front of the API server whose connections the test can cut, as a network failure would. */
async function startRelay(target: URL): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server = createServer((downstream) => {
    const upstream = netConnect(Number(target.port), target.hostname);
    for (const socket of [downstream, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    downstream.pipe(upstream).pipe(downstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const cut = () => {
    for (const socket of sockets) socket.destroy();
  };
  return {
    url: `https://127.0.0.1:${port}`,
    cut,
    close: () =>
      new Promise<void>((resolve) => {
        cut();
        server.close(() => resolve());
      }),
  };
}

function configMap(name: string, data: Record<string, string>, labels: Record<string, string> = {}): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: NAMESPACE, labels }, data };
}

/** The first sync of informers, as a test failure rather than a hang if it never comes (their log says why). */
function synced(...informers: { name: string; hasSynced(): boolean }[]): Promise<boolean> {
  return waitFor(async () => (informers.every((informer) => informer.hasSynced()) ? true : undefined), {
    timeoutMs: 15_000,
    description: `the first sync of ${informers.map((informer) => informer.name).join(', ')}`,
  });
}

const widgets: ResourceType = {
  apiVersion: 'controller.kamaji.test/v1',
  kind: 'Widget',
  plural: 'widgets',
  namespaced: true,
};

describe('controller machinery against a real kube-apiserver', () => {
  const harness = useControlPlane();
  let access: ClusterAccess;
  let client: KubeClient;

  const configMapPath = (name?: string) => resourcePath(builtinResources.configMap, { namespace: NAMESPACE, name });

  before(async () => {
    access = accessFromKubeconfig(harness().kubeconfigYaml, harness().dir);
    client = new KubeClient(access);
    await client.request('POST', '/api/v1/namespaces', { body: { metadata: { name: NAMESPACE } } });
  });
  after(() => client?.close());

  test('an informer sees adds, updates and deletes, and resumes where it was after its connection is cut', async (t) => {
    const relay = await startRelay(new URL(harness().apiserverUrl));
    const relayed = { ...access, server: relay.url };
    const recording = new RecordingClient(relayed);
    const informer = new Informer({
      client: recording,
      type: builtinResources.configMap,
      namespace: NAMESPACE,
      labelSelector: 'suite=informer',
      log: (message) => t.diagnostic(message),
    });
    const heard: string[] = [];
    informer.addHandler({
      onAdd: (object) => heard.push(`add ${object.metadata?.name}`),
      onUpdate: (_previous, object) => heard.push(`update ${object.metadata?.name} ${(object as V1ConfigMap).data?.v}`),
      onDelete: (object) => heard.push(`delete ${object.metadata?.name}`),
    });
    const hear = (line: string) =>
      waitFor(async () => (heard.includes(line) ? true : undefined), { timeoutMs: 10_000, description: line });
    const labelled = { suite: 'informer' };
    try {
      informer.start();
      await synced(informer);
      await client.request('POST', configMapPath(), { body: configMap('one', { v: '1' }, labelled) });
      await client.request('POST', configMapPath(), { body: configMap('unlabelled', { v: '1' }) });
      await hear('add one');
      await client.request('PATCH', configMapPath('one'), {
        body: { data: { v: '2' } },
        contentType: 'application/merge-patch+json',
      });
      await hear('update one 2');

      relay.cut();
      await client.request('PATCH', configMapPath('one'), {
        body: { data: { v: '3' } },
        contentType: 'application/merge-patch+json',
      });
      await client.request('POST', configMapPath(), { body: configMap('two', { v: '1' }, labelled) });
      await hear('update one 3');
      await hear('add two');
      await client.request('DELETE', configMapPath('two'));
      await hear('delete two');

      assert.deepEqual(heard, ['add one', 'update one 2', 'update one 3', 'add two', 'delete two']);
      assert.equal(informer.get(`${NAMESPACE}/unlabelled`), undefined, 'the label selector keeps others out');
      const lists = recording.calls.filter((call) => call.method === 'GET');
      const watches = recording.calls.filter((call) => call.method === 'WATCH');
      assert.equal(lists.length, 1, 'a cut connection resumes the watch, it does not relist');
      assert.ok(watches.length >= 2, `${watches.length} watch connection(s)`);
      assert.match(String(watches[1]?.query?.resourceVersion), /^\d+$/, 'the second watch resumes from a version');
    } finally {
      await informer.stop();
      recording.close();
      await relay.close();
    }
  });

  test('server-side apply creates, then does nothing for the same content, then updates and takes fields over', async () => {
    const owner = await client.request<KubernetesObject>('POST', configMapPath(), {
      body: configMap('owner', {}),
    });
    const base = configMap('applied', { mode: 'fast' }, { 'kamaji.clastix.io/name': 'owner' });
    const desired = { ...base, metadata: { ...base.metadata, ownerReferences: [controllerReference(owner)] } };
    const created = await applyIfChanged(client, builtinResources.configMap, desired, undefined);
    assert.ok(created.applied);
    const createdVersion = created.object.metadata?.resourceVersion;
    assert.equal(created.object.data?.mode, 'fast');
    assert.equal(created.object.metadata?.labels?.['kamaji.clastix.io/name'], 'owner');
    assert.equal(created.object.metadata?.ownerReferences?.[0]?.uid, owner.metadata?.uid);

    const live = await client.request<V1ConfigMap>('GET', configMapPath('applied'));
    assert.deepEqual(await applyIfChanged(client, builtinResources.configMap, desired, live), { applied: false });
    // Even when sent, the same content changes nothing on the server.
    const again = await serverSideApply(client, builtinResources.configMap, withChecksum(desired));
    assert.equal(again.metadata?.resourceVersion, createdVersion);

    // Another manager changes a field kamaji owns; kamaji's next apply of new content forces it back.
    await serverSideApply(client, builtinResources.configMap, configMap('applied', { mode: 'manual' }), 'someone-else');
    const updated = await applyIfChanged(
      client,
      builtinResources.configMap,
      { ...desired, data: { mode: 'slow' } },
      await client.request<V1ConfigMap>('GET', configMapPath('applied')),
    );
    assert.ok(updated.applied);
    assert.equal(updated.object.data?.mode, 'slow');
    assert.notEqual(
      updated.object.metadata?.annotations?.[CHECKSUM_ANNOTATION],
      live.metadata?.annotations?.[CHECKSUM_ANNOTATION],
    );
    const managers = updated.object.metadata?.managedFields?.map((entry) => `${entry.manager}:${entry.operation}`);
    assert.ok(managers?.includes('kamaji:Apply'), `managers: ${managers}`);
  });

  test('patchStatus writes the status subresource of a custom resource and leaves its spec alone', async () => {
    await client.request('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      body: {
        apiVersion: 'apiextensions.k8s.io/v1',
        kind: 'CustomResourceDefinition',
        metadata: { name: 'widgets.controller.kamaji.test' },
        spec: {
          group: 'controller.kamaji.test',
          names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
          scope: 'Namespaced',
          versions: [
            {
              name: 'v1',
              served: true,
              storage: true,
              subresources: { status: {} },
              schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
            },
          ],
        },
      },
    });
    const widget = { apiVersion: widgets.apiVersion, kind: 'Widget', metadata: { name: 'w', namespace: NAMESPACE } };
    const created = await waitFor(
      () => serverSideApply(client, widgets, { ...widget, spec: { size: 3 } } as KubernetesObject),
      { timeoutMs: 20_000, description: 'the Widget CRD to serve' },
    );
    const patched = await patchStatus<KubernetesObject & { spec: { size: number }; status: { ready: boolean } }>(
      client,
      widgets,
      { namespace: NAMESPACE, name: 'w', resourceVersion: created.metadata?.resourceVersion },
      { ready: true },
    );
    assert.deepEqual(patched.status, { ready: true });
    assert.equal(patched.spec.size, 3);
    assert.equal(patched.metadata?.generation, created.metadata?.generation, 'a status write is not a new generation');
    await assert.rejects(
      patchStatus(
        client,
        widgets,
        { namespace: NAMESPACE, name: 'w', resourceVersion: created.metadata?.resourceVersion },
        {
          ready: false,
        },
      ),
      (error) => hasStatus(error, 409),
      'a stale resourceVersion is refused',
    );
  });

  test('two electors on one Lease: exactly one leads, and the other takes over when it stops', {
    timeout: 60_000,
  }, async (t) => {
    const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 250 };
    const elector = (name: string, identity: string, releaseOnStop: boolean) =>
      new LeaderElector({
        client,
        namespace: NAMESPACE,
        name,
        identity,
        releaseOnStop,
        ...timing,
        log: (message) => t.diagnostic(message),
      });
    const readLease = (name: string) =>
      client.request<{ spec: { holderIdentity?: string; leaseTransitions?: number } }>(
        'GET',
        resourcePath(builtinResources.lease, { namespace: NAMESPACE, name }),
      );
    const leaderOf = async (electors: LeaderElector[]) => {
      const leaders = await waitFor(
        async () => {
          const leading = electors.filter((candidate) => candidate.isLeader());
          return leading.length > 0 ? leading : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 20, description: 'a leader' },
      );
      assert.equal(leaders.length, 1);
      return leaders[0]!;
    };

    for (const releaseOnStop of [true, false]) {
      const leaseName = `kamaji-${releaseOnStop ? 'released' : 'abandoned'}`;
      const electors = [elector(leaseName, 'replica-a', releaseOnStop), elector(leaseName, 'replica-b', releaseOnStop)];
      try {
        for (const candidate of electors) candidate.start();
        const leader = await leaderOf(electors);
        for (let sample = 0; sample < 20; sample += 1) {
          assert.deepEqual(
            electors.filter((candidate) => candidate.isLeader()),
            [leader],
            'exactly one leader at any time',
          );
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const follower = electors.find((candidate) => candidate !== leader)!;
        const stoppedAt = Date.now();
        await leader.stop();
        await leaderOf([follower]);
        const tookMs = Date.now() - stoppedAt;
        if (releaseOnStop) {
          assert.ok(tookMs < timing.leaseDurationMs, `took over a released lease after ${tookMs} ms`);
        } else {
          // An abandoned lease expires a lease duration after the follower last saw it change, which is up to one
          // jittered attempt (2.2 retry periods) before or after the stop; the take-over needs one more attempt.
          const attempt = 2.2 * timing.retryPeriodMs;
          assert.ok(tookMs >= timing.leaseDurationMs - attempt, `took over after only ${tookMs} ms`);
          assert.ok(tookMs < timing.leaseDurationMs + 2 * attempt + 500, `took over after ${tookMs} ms`);
        }
        const lease = await readLease(leaseName);
        assert.equal(lease.spec.holderIdentity, follower === electors[0] ? 'replica-a' : 'replica-b');
        assert.equal(lease.spec.leaseTransitions, 1);
      } finally {
        await Promise.all(electors.map((candidate) => candidate.stop()));
      }
    }
  });

  test('repeated events aggregate into one Event with a count', async (t) => {
    const subject = await client.request<KubernetesObject>('POST', configMapPath(), {
      body: configMap('event-subject', {}),
    });
    const recorder = new EventRecorder({
      client,
      component: 'kamaji',
      instance: 'test',
      log: (message) => t.diagnostic(message),
    });
    for (let repeat = 0; repeat < 3; repeat += 1) {
      await recorder.record(subject, 'Warning', 'DataStoreUnreachable', 'dial tcp 10.0.0.1:2379: connection refused');
    }
    await recorder.record(subject, 'Normal', 'Ready', 'the control plane is ready');
    const events = await client.request<{ items: { reason: string; type: string; count: number }[] }>(
      'GET',
      resourcePath(builtinResources.event, { namespace: NAMESPACE }),
      { query: { fieldSelector: 'involvedObject.name=event-subject' } },
    );
    const summary = events.items.map((event) => `${event.type} ${event.reason} x${event.count}`).sort();
    assert.deepEqual(summary, ['Normal Ready x1', 'Warning DataStoreUnreachable x3']);
  });

  test('an informer feeding the queue: a burst of changes to 100 objects is reconciled once per object', {
    timeout: 60_000,
  }, async (t) => {
    const count = 100;
    const names = Array.from({ length: count }, (_, index) => `burst-${index}`);
    const informer = new Informer<V1ConfigMap>({
      client,
      type: builtinResources.configMap,
      namespace: NAMESPACE,
      labelSelector: 'suite=burst',
      log: (message) => t.diagnostic(message),
    });
    const queue = new WorkQueue();
    let notifications = 0;
    const enqueue = (object: KubernetesObject) => {
      notifications += 1;
      queue.add(`${object.metadata?.namespace}/${object.metadata?.name}`);
    };
    informer.addHandler({ onAdd: enqueue, onUpdate: (_previous, object) => enqueue(object), onDelete: enqueue });
    const outputs = new Informer({
      client,
      type: builtinResources.configMap,
      namespace: NAMESPACE,
      labelSelector: 'suite=burst-output',
      metadataOnly: true,
      log: (message) => t.diagnostic(message),
    });
    try {
      informer.start();
      outputs.start();
      await synced(informer, outputs);
      // Every object is created then changed twice before any worker runs.
      await Promise.all(
        names.map(async (name) => {
          await client.request('POST', configMapPath(), { body: configMap(name, { v: '0' }, { suite: 'burst' }) });
          for (const v of ['1', '2']) {
            await client.request('PATCH', configMapPath(name), {
              body: { data: { v } },
              contentType: 'application/merge-patch+json',
            });
          }
        }),
      );
      await waitFor(async () => (informer.list().every((object) => object.data?.v === '2') ? true : undefined), {
        timeoutMs: 20_000,
        description: 'the informer to see every final version',
      });
      assert.equal(notifications, count * 3);
      assert.equal(queue.length, count, 'three notifications per object, one key per object');

      const processing = new Set<string>();
      const attempts: string[] = [];
      const succeeded = new Set<string>();
      const failures: string[] = [];
      let overlapped = false;
      const started = Date.now();
      const reconcile = async (key: string) => {
        if (processing.has(key)) overlapped = true;
        processing.add(key);
        attempts.push(key);
        try {
          const { name } = parseObjectKey(key);
          const output = configMap(`${name}-out`, { v: informer.get(key)?.data?.v ?? '' }, { suite: 'burst-output' });
          await applyIfChanged(client, builtinResources.configMap, output, outputs.get(`${NAMESPACE}/${name}-out`));
          succeeded.add(key);
          if (succeeded.size === count) void queue.shutDown();
          return {};
        } finally {
          processing.delete(key);
        }
      };
      await runWorkers(queue, 8, reconcile, { log: (message) => failures.push(message) });
      const seconds = (Date.now() - started) / 1000;
      assert.deepEqual(failures, []);
      assert.equal(attempts.length, count, 'one reconcile per object');
      assert.equal(overlapped, false);
      const written = await client.request<{ items: V1ConfigMap[] }>('GET', configMapPath(), {
        query: { labelSelector: 'suite=burst-output' },
      });
      assert.equal(written.items.length, count);
      assert.ok(written.items.every((object) => object.data?.v === '2'));
      assert.ok(seconds < 30, `reconciled ${count} objects in ${seconds} s`);

      // The outputs' cache holds metadata only, and that is enough to skip writing what is already there.
      await waitFor(async () => (outputs.size === count ? true : undefined), {
        timeoutMs: 10_000,
        description: 'the outputs in the metadata-only cache',
      });
      const cached = outputs.get(`${NAMESPACE}/burst-0-out`) as V1ConfigMap;
      assert.equal(cached.kind, 'PartialObjectMetadata');
      assert.equal(cached.data, undefined);
      const unchanged = configMap('burst-0-out', { v: '2' }, { suite: 'burst-output' });
      assert.deepEqual(await applyIfChanged(client, builtinResources.configMap, unchanged, cached), { applied: false });
    } finally {
      await queue.shutDown();
      await Promise.all([informer.stop(), outputs.stop()]);
    }
  });
});
