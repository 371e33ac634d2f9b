import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cachesSynced, parseListenAddress, startProbeServer } from './health.ts';
import { Registry } from './metrics.ts';

test('listen addresses: host:port, :port for every interface, bracketed IPv6', () => {
  assert.deepEqual(parseListenAddress('127.0.0.1:8080'), { host: '127.0.0.1', port: 8080 });
  assert.deepEqual(parseListenAddress(':8081'), { host: undefined, port: 8081 });
  assert.deepEqual(parseListenAddress('[::1]:0'), { host: '::1', port: 0 });
  assert.throws(() => parseListenAddress('8080'), /no port/);
  assert.throws(() => parseListenAddress(':http'), /bad port/);
});

test('the probe server answers /healthz, /readyz (failing until caches sync) and /metrics', async () => {
  const registry = new Registry();
  registry.counter({ name: 'scrapes_total', help: 'x' });
  const informer = { name: 'tenantcontrolplanes', synced: false, hasSynced: () => informer.synced };
  const server = await startProbeServer({
    address: '127.0.0.1:0',
    registry,
    liveness: [],
    readiness: [cachesSynced([informer])],
  });
  try {
    const get = async (path: string) => {
      const response = await fetch(`${server.url}${path}`);
      return { status: response.status, text: await response.text(), type: response.headers.get('content-type') };
    };
    assert.deepEqual(await get('/healthz'), { status: 200, text: 'ok\n', type: 'text/plain; charset=utf-8' });
    const notReady = await get('/readyz');
    assert.equal(notReady.status, 500);
    assert.match(notReady.text, /\[-\]informers-synced failed: waiting for tenantcontrolplanes/);
    informer.synced = true;
    assert.equal((await get('/readyz')).status, 200);
    const metrics = await get('/metrics');
    assert.equal(metrics.type, 'text/plain; version=0.0.4; charset=utf-8');
    assert.match(metrics.text, /^scrapes_total 0$/m);
    assert.equal((await get('/nothing')).status, 404);
  } finally {
    await server.close();
  }
});

test('a check that throws counts as failing', async () => {
  const readiness = [
    {
      name: 'boom',
      check: (): string | undefined => {
        throw new Error('exploded');
      },
    },
  ];
  const server = await startProbeServer({ address: '127.0.0.1:0', readiness });
  try {
    const response = await fetch(`${server.url}/readyz`);
    assert.equal(response.status, 500);
    assert.match(await response.text(), /\[-\]boom failed: exploded/);
  } finally {
    await server.close();
  }
});

test('a metrics-only server answers /metrics and nothing else', async () => {
  const registry = new Registry();
  registry.gauge({ name: 'up_gauge', help: 'x' });
  const server = await startProbeServer({ address: '127.0.0.1:0', registry });
  try {
    assert.match(await (await fetch(`${server.url}/metrics`)).text(), /^up_gauge 0$/m);
    for (const path of ['/healthz', '/readyz']) assert.equal((await fetch(`${server.url}${path}`)).status, 404, path);
  } finally {
    await server.close();
  }
});
