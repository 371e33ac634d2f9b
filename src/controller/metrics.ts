import type { DatastoreObserver } from '../datastore/instrumented.ts';
import type { ReconcileOutcome, WorkQueueObserver } from './work-queue.ts';

export type Labels = Readonly<Record<string, string>>;

export interface MetricOptions {
  name: string;
  help: string;
  labelNames?: readonly string[];
}

interface Series<State> {
  /** `name="value"` pairs, escaped once when the series is first seen. */
  pairs: string[];
  state: State;
}

/** One metric family: a series per distinct set of label values. */
abstract class Metric<State> {
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly string[];
  private readonly series = new Map<string, Series<State>>();

  constructor(options: MetricOptions) {
    if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(options.name)) throw new Error(`invalid metric name ${options.name}`);
    this.name = options.name;
    this.help = options.help;
    this.labelNames = options.labelNames ?? [];
  }

  protected abstract initialState(): State;
  protected abstract samples(pairs: readonly string[], state: State): string[];

  protected stateFor(labels: Labels): State {
    for (const name of Object.keys(labels)) {
      if (!this.labelNames.includes(name)) throw new Error(`metric ${this.name} has no label ${name}`);
    }
    const values = this.labelNames.map((name) => labels[name] ?? '');
    const key = values.join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      const pairs = this.labelNames.map((name, index) => `${name}="${escapeLabelValue(values[index] ?? '')}"`);
      series = { pairs, state: this.initialState() };
      this.series.set(key, series);
    }
    return series.state;
  }

  render(): string {
    // An unlabelled metric has exactly one series: show it from the start, at zero.
    if (this.labelNames.length === 0) this.stateFor({});
    const lines = [`# HELP ${this.name} ${this.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`];
    lines.push(`# TYPE ${this.name} ${this.type}`);
    for (const { pairs, state } of this.series.values()) lines.push(...this.samples(pairs, state));
    return `${lines.join('\n')}\n`;
  }

  protected sample(suffix: string, pairs: readonly string[], value: number): string {
    const labels = pairs.length > 0 ? `{${pairs.join(',')}}` : '';
    return `${this.name}${suffix}${labels} ${formatValue(value)}`;
  }
}

export class Counter extends Metric<{ value: number }> {
  readonly type = 'counter';

  inc(by = 1, labels: Labels = {}): void {
    if (by < 0) throw new Error(`counter ${this.name} cannot decrease`);
    this.stateFor(labels).value += by;
  }

  protected initialState(): { value: number } {
    return { value: 0 };
  }

  protected samples(pairs: readonly string[], state: { value: number }): string[] {
    return [this.sample('', pairs, state.value)];
  }
}

export class Gauge extends Metric<{ value: number }> {
  readonly type = 'gauge';

  set(value: number, labels: Labels = {}): void {
    this.stateFor(labels).value = value;
  }

  inc(by = 1, labels: Labels = {}): void {
    this.stateFor(labels).value += by;
  }

  dec(by = 1, labels: Labels = {}): void {
    this.stateFor(labels).value -= by;
  }

  protected initialState(): { value: number } {
    return { value: 0 };
  }

  protected samples(pairs: readonly string[], state: { value: number }): string[] {
    return [this.sample('', pairs, state.value)];
  }
}

interface HistogramState {
  /** Observations per bucket (not cumulative; summed when rendered). */
  counts: number[];
  sum: number;
  count: number;
}

export const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

export class Histogram extends Metric<HistogramState> {
  readonly type = 'histogram';
  readonly buckets: readonly number[];

  constructor(options: MetricOptions & { buckets?: readonly number[] }) {
    super(options);
    if (this.labelNames.includes('le')) throw new Error(`histogram ${options.name} cannot have a label named le`);
    this.buckets = [...(options.buckets ?? DEFAULT_BUCKETS)].sort((a, b) => a - b);
  }

  observe(value: number, labels: Labels = {}): void {
    const state = this.stateFor(labels);
    const bucket = this.buckets.findIndex((bound) => value <= bound);
    if (bucket >= 0) state.counts[bucket] = (state.counts[bucket] ?? 0) + 1;
    state.sum += value;
    state.count += 1;
  }

  protected initialState(): HistogramState {
    return { counts: this.buckets.map(() => 0), sum: 0, count: 0 };
  }

  protected samples(pairs: readonly string[], state: HistogramState): string[] {
    let cumulative = 0;
    const lines = this.buckets.map((bound, index) => {
      cumulative += state.counts[index] ?? 0;
      return this.sample('_bucket', [...pairs, `le="${formatValue(bound)}"`], cumulative);
    });
    lines.push(this.sample('_bucket', [...pairs, 'le="+Inf"'], state.count));
    lines.push(this.sample('_sum', pairs, state.sum), this.sample('_count', pairs, state.count));
    return lines;
  }
}

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(value: number): string {
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}

type AnyMetric = Counter | Gauge | Histogram;

/** Metrics in the Prometheus text exposition format (version 0.0.4). */
export class Registry {
  private readonly metrics = new Map<string, AnyMetric>();
  private readonly collectors: (() => void)[] = [];

  /** Registering a name again returns the metric already registered under it. */
  counter(options: MetricOptions): Counter {
    return this.register(options, Counter);
  }

  gauge(options: MetricOptions): Gauge {
    return this.register(options, Gauge);
  }

  histogram(options: MetricOptions & { buckets?: readonly number[] }): Histogram {
    return this.register(options, Histogram);
  }

  /** Runs before every render, to set gauges from state read at scrape time (queue depth, memory). */
  beforeCollect(collect: () => void): void {
    this.collectors.push(collect);
  }

  render(): string {
    for (const collect of this.collectors) collect();
    return [...this.metrics.values()].map((metric) => metric.render()).join('');
  }

  private register<M extends AnyMetric, O extends MetricOptions>(options: O, kind: new (options: O) => M): M {
    const existing = this.metrics.get(options.name);
    if (existing) {
      if (!(existing instanceof kind)) throw new Error(`metric ${options.name} is already a ${existing.type}`);
      return existing;
    }
    const metric = new kind(options);
    this.metrics.set(options.name, metric);
    return metric;
  }
}

/** Memory of this process, for the per-object memory budget. */
export function registerProcessMetrics(registry: Registry): void {
  const resident = registry.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory size in bytes.' });
  const heap = registry.gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap in use, in bytes.' });
  const start = registry.gauge({ name: 'process_start_time_seconds', help: 'Start time since the epoch, in seconds.' });
  start.set(Math.round(Date.now() / 1000 - process.uptime()));
  registry.beforeCollect(() => {
    const usage = process.memoryUsage();
    resident.set(usage.rss);
    heap.set(usage.heapUsed);
  });
}

export interface ControllerMetrics {
  /** Give to the controller's WorkQueue. */
  queue: WorkQueueObserver;
  /** Give to runWorkers as `observe`. */
  reconciled: (outcome: ReconcileOutcome) => void;
}

/**
 * controller-runtime's reconcile metrics and client-go's workqueue metrics for one controller, under the names
 * their dashboards use. `depth` is read at scrape time.
 */
export function instrumentController(registry: Registry, controller: string, depth: () => number): ControllerMetrics {
  const total = registry.counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller.',
    labelNames: ['controller', 'result'],
  });
  const errors = registry.counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller.',
    labelNames: ['controller'],
  });
  const time = registry.histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller.',
    labelNames: ['controller'],
  });
  const depthGauge = registry.gauge({
    name: 'workqueue_depth',
    help: 'Current depth of workqueue.',
    labelNames: ['name'],
  });
  const adds = registry.counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by workqueue.',
    labelNames: ['name'],
  });
  const retries = registry.counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by workqueue.',
    labelNames: ['name'],
  });
  const queueDuration = registry.histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in workqueue before being requested.',
    labelNames: ['name'],
    buckets: WORKQUEUE_BUCKETS,
  });
  const workDuration = registry.histogram({
    name: 'workqueue_work_duration_seconds',
    help: 'How long in seconds processing an item from workqueue takes.',
    labelNames: ['name'],
    buckets: WORKQUEUE_BUCKETS,
  });
  const name = { name: controller };
  registry.beforeCollect(() => depthGauge.set(depth(), name));
  // Shown at zero from the start, as controller-runtime does, so that rate() and alerts see the series.
  errors.inc(0, { controller });
  retries.inc(0, name);
  return {
    queue: {
      added: () => adds.inc(1, name),
      retried: () => retries.inc(1, name),
      handedOut: (seconds) => queueDuration.observe(seconds, name),
      finished: (seconds) => workDuration.observe(seconds, name),
    },
    reconciled: ({ result, seconds }) => {
      total.inc(1, { controller, result });
      if (result === 'error') errors.inc(1, { controller });
      time.observe(seconds, { controller });
    },
  };
}

/** client-go's workqueue buckets: 1 µs to 10 s by powers of ten. */
const WORKQUEUE_BUCKETS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1, 10];

/** client-go's `rest_client_requests_total`: give the result to a KubeClient as `onResponse`. */
export function restClientMetrics(registry: Registry): (method: string, host: string, code: string) => void {
  const requests = registry.counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests, partitioned by status code, method, and host.',
    labelNames: ['code', 'method', 'host'],
  });
  return (method, host, code) => requests.inc(1, { code, method, host });
}

/** client-go's `leader_election_master_status`: 1 while this replica holds the lease `name`. */
export function leaderElectionMetrics(registry: Registry, name: string): (leading: boolean) => void {
  const status = registry.gauge({
    name: 'leader_election_master_status',
    help: 'Gauge of if the reporting system is master of the relevant lease, 0 indicates backup, 1 indicates master.',
    labelNames: ['name'],
  });
  status.set(0, { name });
  return (leading) => status.set(leading ? 1 : 0, { name });
}

/** Kamaji's datastore operations by driver: count, failures and duration. */
export function datastoreMetrics(registry: Registry): DatastoreObserver {
  const labelNames = ['driver', 'operation'];
  const operations = registry.counter({
    name: 'kamaji_datastore_operations_total',
    help: 'Datastore operations (check, ensure_tenant, delete_tenant) by driver.',
    labelNames,
  });
  const failures = registry.counter({
    name: 'kamaji_datastore_operation_errors_total',
    help: 'Datastore operations that failed, by driver.',
    labelNames,
  });
  const duration = registry.histogram({
    name: 'kamaji_datastore_operation_duration_seconds',
    help: 'Duration of datastore operations, by driver.',
    labelNames,
  });
  return ({ driver, operation, seconds, failed }) => {
    operations.inc(1, { driver, operation });
    if (failed) failures.inc(1, { driver, operation });
    duration.observe(seconds, { driver, operation });
  };
}
