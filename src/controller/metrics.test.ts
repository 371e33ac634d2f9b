import assert from 'node:assert/strict';
import { test } from 'node:test';
import { instrumentController, Registry, registerProcessMetrics } from './metrics.ts';
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

test('controller instrumentation counts reconciles by result and reads the queue depth at scrape time', () => {
  const registry = new Registry();
  const queue = new WorkQueue();
  const observe = instrumentController(registry, 'tenantcontrolplane', queue);
  observe({ key: 'a/b', result: 'success', seconds: 0.02 });
  observe({ key: 'a/b', result: 'error', seconds: 0.2 });
  queue.add('a/c');
  registerProcessMetrics(registry);
  const text = registry.render();
  assert.match(text, /^controller_runtime_reconcile_total\{controller="tenantcontrolplane",result="success"\} 1$/m);
  assert.match(text, /^controller_runtime_reconcile_errors_total\{controller="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^controller_runtime_reconcile_time_seconds_count\{controller="tenantcontrolplane"\} 2$/m);
  assert.match(text, /^workqueue_depth\{name="tenantcontrolplane"\} 1$/m);
  assert.match(text, /^process_resident_memory_bytes [1-9]\d*$/m);
});
