import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  datastoreMetrics,
  instrumentController,
  leaderElectionMetrics,
  Registry,
  registerProcessMetrics,
  restClientMetrics,
} from './metrics.ts';
import { WorkQueue } from './work-queue.ts';

test('counters and gauges render in the Prometheus text format, labels escaped', () => {
  const registry = new Registry();
  const requests = registry.counter({ name: 'requests_total', help: 'Requests.\nAll of them.', labelNames: ['code'] });
  const up = registry.gauge({ name: 'up', help: 'Whether up.' });
  requests.inc(1, { code: '200' });
  requests.inc(2, { code: '200' });
  requests.inc(1, { code: 'a "quoted"\\value\n' });
  up.set(1);
  up.dec();
  assert.equal(
    registry.render(),
    [
      '# HELP requests_total Requests.\\nAll of them.',
      '# TYPE requests_total counter',
      'requests_total{code="200"} 3',
      'requests_total{code="a \\"quoted\\"\\\\value\\n"} 1',
      '# HELP up Whether up.',
      '# TYPE up gauge',
      'up 0',
      '',
    ].join('\n'),
  );
});

test('histograms render cumulative buckets, +Inf, sum and count', () => {
  const registry = new Registry();
  const latency = registry.histogram({
    name: 'latency_seconds',
    help: 'Latency.',
    labelNames: ['op'],
    buckets: [1, 0.1],
  });
  for (const value of [0.05, 0.5, 0.5, 3]) latency.observe(value, { op: 'get' });
  assert.equal(
    registry.render(),
    [
      '# HELP latency_seconds Latency.',
      '# TYPE latency_seconds histogram',
      'latency_seconds_bucket{op="get",le="0.1"} 1',
      'latency_seconds_bucket{op="get",le="1"} 3',
      'latency_seconds_bucket{op="get",le="+Inf"} 4',
      'latency_seconds_sum{op="get"} 4.05',
      'latency_seconds_count{op="get"} 4',
      '',
    ].join('\n'),
  );
});

test('misuse is refused: unknown labels, negative counter steps, a name reused for another type', () => {
  const registry = new Registry();
  const counter = registry.counter({ name: 'c_total', help: 'c', labelNames: ['a'] });
  assert.equal(registry.counter({ name: 'c_total', help: 'c', labelNames: ['a'] }), counter);
  assert.throws(() => counter.inc(1, { b: 'x' }), /has no label b/);
  assert.throws(() => counter.inc(-1), /cannot decrease/);
  assert.throws(() => registry.gauge({ name: 'c_total', help: 'c' }), /already a counter/);
  assert.throws(() => registry.gauge({ name: 'bad-name', help: 'x' }), /invalid metric name/);
});

test('controller instrumentation counts reconciles by result, the queue as client-go does, and depth at scrape time', async () => {
  const registry = new Registry();
  const metrics = instrumentController(registry, 'tenantcontrolplane', () => queue.length);
  const queue = new WorkQueue({ observer: metrics.queue, baseDelayMs: 1 });
  metrics.reconciled({ key: 'a/b', result: 'success', seconds: 0.02 });
  metrics.reconciled({ key: 'a/b', result: 'error', seconds: 0.2 });
  queue.add('a/b');
  queue.add('a/b'); // already waiting: not an add
  queue.add('a/c');
  const key = await queue.get();
  assert.equal(key, 'a/b');
  queue.addRateLimited('a/b');
  queue.done('a/b');
  registerProcessMetrics(registry);
  const text = registry.render();
  assert.match(text, /^controller_runtime_reconcile_total\{controller="tenantcontrolplane",result="success"\} 1$/m);
  assert.match(text, /^controller_runtime_reconcile_errors_total\{controller="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^controller_runtime_reconcile_time_seconds_count\{controller="tenantcontrolplane"\} 2$/m);
  assert.match(text, /^workqueue_depth\{name="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^workqueue_adds_total\{name="tenantcontrolplane"\} 2$/m);
  assert.match(text, /^workqueue_retries_total\{name="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^workqueue_queue_duration_seconds_count\{name="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^workqueue_work_duration_seconds_count\{name="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^process_resident_memory_bytes [1-9]\d*$/m);
  await queue.shutDown();
});

test('REST client, leader election and datastore metrics under the names dashboards use', () => {
  const registry = new Registry();
  restClientMetrics(registry)('GET', '10.0.0.1:6443', '200');
  const leading = leaderElectionMetrics(registry, 'kamaji-manager');
  assert.match(registry.render(), /^leader_election_master_status\{name="kamaji-manager"\} 0$/m);
  leading(true);
  const datastore = datastoreMetrics(registry);
  datastore({ driver: 'etcd', operation: 'ensure_tenant', seconds: 0.01, failed: false });
  datastore({ driver: 'etcd', operation: 'ensure_tenant', seconds: 0.5, failed: true });
  const text = registry.render();
  assert.match(text, /^rest_client_requests_total\{code="200",method="GET",host="10.0.0.1:6443"\} 1$/m);
  assert.match(text, /^leader_election_master_status\{name="kamaji-manager"\} 1$/m);
  assert.match(text, /^kamaji_datastore_operations_total\{driver="etcd",operation="ensure_tenant"\} 2$/m);
  assert.match(text, /^kamaji_datastore_operation_errors_total\{driver="etcd",operation="ensure_tenant"\} 1$/m);
  assert.match(
    text,
    /^kamaji_datastore_operation_duration_seconds_count\{driver="etcd",operation="ensure_tenant"\} 2$/m,
  );
});
