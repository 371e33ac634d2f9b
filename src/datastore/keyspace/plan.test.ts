import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planReplace } from './plan.ts';

const kv = (key: string, value: string, revision = '7') => ({ key, value: Buffer.from(value), revision });
const entry = (key: string, value: string, ttlSeconds?: number) => ({
  key,
  value: Buffer.from(value),
  ...(ttlSeconds ? { ttlSeconds } : {}),
});

test('a replace creates what is missing, updates what differs at its revision, deletes the rest', () => {
  const plan = planReplace(
    [kv('same', 'a', '3'), kv('differs', 'old', '4'), kv('extra', 'x', '5')],
    [entry('same', 'a'), entry('differs', 'new'), entry('missing', 'm')],
  );
  assert.deepEqual(
    plan.writes.map((write) => [write.key, write.value.toString(), write.revision]),
    [
      ['differs', 'new', '4'],
      ['missing', 'm', undefined],
    ],
  );
  assert.deepEqual(plan.deletes, [{ key: 'extra', revision: '5' }]);
  assert.equal(plan.unchanged, 1);
});

test('a leased key is written again even when its value is the same: it needs its lease where it lands', () => {
  const plan = planReplace([kv('event', 'e')], [entry('event', 'e', 60)]);
  assert.equal(plan.writes.length, 1);
  assert.equal(plan.unchanged, 0);
});

test('a replace that already happened has nothing to do', () => {
  const plan = planReplace([kv('a', '1'), kv('b', '2')], [entry('a', '1'), entry('b', '2')]);
  assert.deepEqual([plan.writes.length, plan.deletes.length, plan.unchanged], [0, 0, 2]);
});

test('a key given twice is refused rather than written in an order nobody chose', () => {
  assert.throws(() => planReplace([], [entry('a', '1'), entry('a', '2')]), /appears twice/);
});
