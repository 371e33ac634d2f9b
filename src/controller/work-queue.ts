import { type Log, logToStderr } from './log.ts';

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles with each further failure of the same key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
  observer?: WorkQueueObserver;
}

/** What client-go's workqueue metrics count, told as it happens. */
export interface WorkQueueObserver {
  /** A key entered the queue (a key already waiting does not count again). */
  added(): void;
  /** A failed key was scheduled again with backoff. */
  retried(): void;
  /** A key was handed out after waiting this long in the queue. */
  handedOut(waitedSeconds: number): void;
  /** A key's processing ended after this long. */
  finished(workedSeconds: number): void;
}

interface Scheduled {
  at: number;
  key: string;
}

/**
 * A work queue of keys (`namespace/name`) in the manner of client-go's rate-limited workqueue:
 * - a key waiting to be processed is held once, however often it is added;
 * - a key is never handed out while it is being processed; added meanwhile, it is handed out again after `done`;
 * - failures back off exponentially per key until `forget`;
 * - delayed adds share one timer, armed for the earliest of them.
 */
export class WorkQueue {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly ready: string[] = [];
  /** Keys that are to be handed out: those in `ready`, and those added again while processing. */
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private readonly failures = new Map<string, number>();
  /** The time each delayed key is due; the heap may also hold superseded entries, skipped when they come up. */
  private readonly dueAt = new Map<string, number>();
  private readonly heap: Scheduled[] = [];
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private shuttingDown = false;
  private drained: PromiseWithResolvers<void> | undefined;
  private readonly observer: WorkQueueObserver | undefined;
  /** When each waiting key entered the queue, and when each key being processed was handed out (observed only). */
  private readonly since = new Map<string, number>();

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
    this.observer = options.observer;
  }

  /** Keys waiting to be handed out. */
  get length(): number {
    return this.ready.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.observer?.added();
    if (this.processing.has(key)) this.dirty.add(key);
    else this.handOut(key);
  }

  /** Adds the key once `delayMs` has passed; of several pending delays for one key the earliest wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const due = this.dueAt.get(key);
    if (due !== undefined && due <= at) return;
    this.dueAt.set(key, at);
    pushScheduled(this.heap, { at, key });
    this.armTimer();
  }

  /** Adds the key after its backoff: base delay doubled for each failure since the last `forget`. */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.observer?.retried();
    this.addAfter(key, Math.min(this.baseDelayMs * 2 ** failures, this.maxDelayMs));
  }

  /** Clears the key's failure count (after a success). */
  forget(key: string): void {
    this.failures.delete(key);
  }

  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process (marked as processing until `done`), or undefined once shut down. */
  get(): Promise<string | undefined> {
    if (this.shuttingDown) return Promise.resolve(undefined);
    const key = this.ready.shift();
    if (key === undefined) return new Promise((resolve) => this.waiters.push(resolve));
    this.dirty.delete(key);
    this.startProcessing(key);
    return Promise.resolve(key);
  }

  done(key: string): void {
    this.processing.delete(key);
    this.observeTransition(key, (seconds) => this.observer?.finished(seconds));
    if (this.dirty.delete(key) && !this.shuttingDown) this.handOut(key);
    if (this.shuttingDown && this.processing.size === 0) this.drained?.resolve();
  }

  /**
   * Stops handing out keys and drops the waiting and delayed ones (a new leader lists everything anew);
   * resolves once every key being processed is `done`.
   */
  shutDown(): Promise<void> {
    this.shuttingDown = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.length = 0;
    this.dueAt.clear();
    this.since.clear();
    this.ready.length = 0;
    this.dirty.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    if (this.processing.size === 0) return Promise.resolve();
    this.drained ??= Promise.withResolvers<void>();
    return this.drained.promise;
  }

  private handOut(key: string): void {
    if (this.observer) this.since.set(key, performance.now());
    const waiter = this.waiters.shift();
    if (waiter) {
      this.startProcessing(key);
      waiter(key);
    } else {
      this.dirty.add(key);
      this.ready.push(key);
    }
  }

  private startProcessing(key: string): void {
    this.processing.add(key);
    this.observeTransition(key, (seconds) => this.observer?.handedOut(seconds));
  }

  /** Reports the time since the key's last transition and starts timing the next one. */
  private observeTransition(key: string, report: (seconds: number) => void): void {
    if (!this.observer) return;
    const now = performance.now();
    report((now - (this.since.get(key) ?? now)) / 1000);
    if (this.processing.has(key)) this.since.set(key, now);
    else if (!this.dirty.has(key)) this.since.delete(key);
  }

  private armTimer(): void {
    const next = this.heap[0];
    if (!next) return;
    if (this.timer && this.timerAt <= next.at) return;
    clearTimeout(this.timer);
    this.timerAt = next.at;
    this.timer = setTimeout(() => this.releaseDue(), Math.max(0, next.at - Date.now()));
  }

  private releaseDue(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    for (let next = this.heap[0]; next && next.at <= now; next = this.heap[0]) {
      popScheduled(this.heap);
      if (this.dueAt.get(next.key) !== next.at) continue;
      this.dueAt.delete(next.key);
      this.add(next.key);
    }
    this.armTimer();
  }
}

// A binary min-heap on `at`.
function pushScheduled(heap: Scheduled[], entry: Scheduled): void {
  heap.push(entry);
  let index = heap.length - 1;
  while (index > 0) {
    const parent = (index - 1) >> 1;
    if (heap[parent]!.at <= entry.at) break;
    heap[index] = heap[parent]!;
    index = parent;
  }
  heap[index] = entry;
}

function popScheduled(heap: Scheduled[]): void {
  const last = heap.pop();
  if (!last || heap.length === 0) return;
  let index = 0;
  for (;;) {
    const left = index * 2 + 1;
    if (left >= heap.length) break;
    const right = left + 1;
    const child = right < heap.length && heap[right]!.at < heap[left]!.at ? right : left;
    if (heap[child]!.at >= last.at) break;
    heap[index] = heap[child]!;
    index = child;
  }
  heap[index] = last;
}

export interface ReconcileResult {
  /** Reconcile the key again after this long even if nothing changes (e.g. to renew a certificate). */
  requeueAfterMs?: number;
}

/** Brings the object named by the key to its desired state; throws to be retried with backoff. */
export type Reconcile = (key: string) => Promise<ReconcileResult>;

export interface ReconcileOutcome {
  key: string;
  result: 'success' | 'requeue_after' | 'error';
  seconds: number;
}

export interface RunWorkersOptions {
  /** The controller's name, for log fields. */
  name?: string;
  log?: Log;
  /** Told about every reconcile, e.g. for metrics. */
  observe?: (outcome: ReconcileOutcome) => void;
}

/** `namespace/name` or `name` as log fields. */
export function keyFields(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** Runs `concurrency` workers that reconcile keys from the queue; resolves once the queue is shut down and idle. */
export async function runWorkers(
  queue: WorkQueue,
  concurrency: number,
  reconcile: Reconcile,
  options: RunWorkersOptions = {},
): Promise<void> {
  const log = options.log ?? logToStderr;
  const worker = async (): Promise<void> => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      const started = performance.now();
      let result: ReconcileOutcome['result'] = 'success';
      try {
        const { requeueAfterMs } = await reconcile(key);
        queue.forget(key);
        if (requeueAfterMs !== undefined) {
          result = 'requeue_after';
          queue.addAfter(key, requeueAfterMs);
        }
      } catch (error) {
        result = 'error';
        log(`reconcile ${key} failed (failure ${queue.failuresOf(key) + 1}): ${(error as Error).message}`, {
          level: 'error',
          controller: options.name,
          ...keyFields(key),
        });
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
      options.observe?.({ key, result, seconds: (performance.now() - started) / 1000 });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
