import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { discardLog } from './log.ts';
import { runWorkers, WorkQueue } from './work-queue.ts';

/** Takes every key the queue can hand out right now. */
async function drain(queue: WorkQueue): Promise<string[]> {
  const keys: string[] = [];
  while (queue.length > 0) keys.push((await queue.get())!);
  return keys;
}

test('a key waiting to be processed is held once however often it is added, in first-added order', async () => {
  const queue = new WorkQueue();
  for (const key of ['ns/a', 'ns/b', 'ns/a', 'ns/c', 'ns/b']) queue.add(key);
  assert.equal(queue.length, 3);
  assert.deepEqual(await drain(queue), ['ns/a', 'ns/b', 'ns/c']);
});

test('a key added while it is processed is not handed out until done, and then exactly once more', async () => {
  const queue = new WorkQueue();
  queue.add('ns/a');
  assert.equal(await queue.get(), 'ns/a');
  queue.add('ns/a');
  queue.add('ns/a');
  assert.equal(queue.length, 0, 'held back while processing');
  queue.done('ns/a');
  assert.deepEqual(await drain(queue), ['ns/a']);
  queue.done('ns/a');
  assert.equal(queue.length, 0);
});

test('a waiting get receives the next key added', async () => {
  const queue = new WorkQueue();
  const next = queue.get();
  queue.add('ns/late');
  assert.equal(await next, 'ns/late');
});

test('shutDown answers waiting gets with undefined, drops waiting keys and waits for keys in process', async () => {
  const queue = new WorkQueue();
  const waiting = queue.get();
  queue.add('ns/a');
  assert.equal(await waiting, 'ns/a');
  queue.add('ns/b');
  let drained = false;
  const shutDown = queue.shutDown().then(() => {
    drained = true;
  });
  assert.equal(await queue.get(), undefined);
  assert.equal(queue.length, 0);
  queue.add('ns/c');
  assert.equal(queue.length, 0, 'adds after shutdown are ignored');
  await nextTurn();
  assert.equal(drained, false, 'ns/a is still in process');
  queue.done('ns/a');
  await shutDown;
  assert.equal(drained, true);
});

describe('with fake time', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'Date'] }));
  afterEach(() => mock.timers.reset());

  test('addAfter hands the key out once its time has come; the earliest of several delays wins', async () => {
    const queue = new WorkQueue();
    queue.addAfter('ns/a', 100);
    queue.addAfter('ns/a', 500);
    queue.addAfter('ns/b', 50);
    mock.timers.tick(49);
    assert.equal(queue.length, 0);
    mock.timers.tick(1);
    assert.deepEqual(await drain(queue), ['ns/b']);
    mock.timers.tick(50);
    assert.deepEqual(await drain(queue), ['ns/a']);
    mock.timers.tick(1_000);
    assert.equal(queue.length, 0, 'the superseded later delay does not hand ns/a out again');
  });

  test('failures back off exponentially per key up to the cap, and forget resets the backoff', async () => {
    const queue = new WorkQueue({ baseDelayMs: 10, maxDelayMs: 50 });
    const dueAfter = async (key: string): Promise<number> => {
      queue.addRateLimited(key);
      let waited = 0;
      while (queue.length === 0) {
        mock.timers.tick(1);
        waited += 1;
      }
      queue.done((await queue.get())!);
      return waited;
    };
    const delays = [];
    for (let attempt = 0; attempt < 5; attempt += 1) delays.push(await dueAfter('ns/a'));
    assert.deepEqual(delays, [10, 20, 40, 50, 50]);
    assert.equal(queue.failuresOf('ns/a'), 5);
    queue.forget('ns/a');
    assert.equal(await dueAfter('ns/a'), 10);
  });

  test('many delayed keys share a single timer', () => {
    const setTimeoutSpy = mock.method(globalThis, 'setTimeout');
    const queue = new WorkQueue();
    for (let index = 0; index < 100; index += 1) queue.addAfter(`ns/k${index}`, 1_000 + index);
    assert.equal(setTimeoutSpy.mock.callCount(), 1);
    mock.timers.tick(1_100);
    assert.equal(queue.length, 100);
    setTimeoutSpy.mock.restore();
  });
});

test('runWorkers: a burst of duplicate keys is reconciled once each, never one key twice at a time', async () => {
  const queue = new WorkQueue();
  const inProcess = new Set<string>();
  const reconciled: string[] = [];
  let overlapping = false;
  for (let round = 0; round < 5; round += 1) for (let index = 0; index < 20; index += 1) queue.add(`ns/k${index}`);
  const workers = runWorkers(queue, 4, async (key) => {
    if (inProcess.has(key)) overlapping = true;
    inProcess.add(key);
    await nextTurn();
    inProcess.delete(key);
    reconciled.push(key);
    if (reconciled.length === 20) void queue.shutDown();
    return {};
  });
  await workers;
  assert.equal(overlapping, false);
  assert.equal(reconciled.length, 20);
  assert.equal(new Set(reconciled).size, 20);
});

test('runWorkers: a key re-added during its reconcile is reconciled again afterwards', async () => {
  const queue = new WorkQueue();
  let calls = 0;
  queue.add('ns/a');
  await runWorkers(queue, 2, async (key) => {
    calls += 1;
    if (calls === 1) queue.add(key);
    else void queue.shutDown();
    return {};
  });
  assert.equal(calls, 2);
});

test('runWorkers: a failing reconcile is retried with backoff, and success forgets the failures', async () => {
  const queue = new WorkQueue({ baseDelayMs: 1 });
  const outcomes: string[] = [];
  let attempts = 0;
  queue.add('ns/flaky');
  await runWorkers(
    queue,
    1,
    async () => {
      attempts += 1;
      if (attempts < 3) throw new Error('not yet');
      void queue.shutDown();
      return {};
    },
    { log: discardLog, observe: ({ result }) => outcomes.push(result) },
  );
  assert.deepEqual(outcomes, ['error', 'error', 'success']);
  assert.equal(queue.failuresOf('ns/flaky'), 0);
});

test('runWorkers: requeueAfterMs schedules the key again', async () => {
  const queue = new WorkQueue();
  const seen: number[] = [];
  queue.add('ns/periodic');
  await runWorkers(queue, 1, async () => {
    seen.push(Date.now());
    if (seen.length === 2) {
      void queue.shutDown();
      return {};
    }
    return { requeueAfterMs: 30 };
  });
  assert.equal(seen.length, 2);
  assert.ok(seen[1]! - seen[0]! >= 25, `requeued after ${seen[1]! - seen[0]!} ms`);
});
