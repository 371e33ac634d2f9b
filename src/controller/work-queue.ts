import { type Log, logToStderr } from './log.ts';

export interface WorkQueueOptions {
  /** First retry delay after a failure; doubles with each further failure of the same key. */
  baseDelayMs?: number;
  maxDelayMs?: number;
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

  constructor(options: WorkQueueOptions = {}) {
    this.baseDelayMs = options.baseDelayMs ?? 5;
    this.maxDelayMs = options.maxDelayMs ?? 300_000;
  }

  /** Keys waiting to be handed out. */
  get length(): number {
    return this.ready.length;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
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
    this.processing.add(key);
    return Promise.resolve(key);
  }

  done(key: string): void {
    this.processing.delete(key);
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
    this.ready.length = 0;
    this.dirty.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
    if (this.processing.size === 0) return Promise.resolve();
    this.drained ??= Promise.withResolvers<void>();
    return this.drained.promise;
  }

  private handOut(key: string): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      this.processing.add(key);
      waiter(key);
    } else {
      this.dirty.add(key);
      this.ready.push(key);
    }
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
  log?: Log;
  /** Told about every reconcile, e.g. for metrics. */
  observe?: (outcome: ReconcileOutcome) => void;
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
        log(`reconcile ${key} failed (failure ${queue.failuresOf(key) + 1}): ${(error as Error).message}`);
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
      options.observe?.({ key, result, seconds: (performance.now() - started) / 1000 });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
