import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ConditionInput } from './conditions.ts';
import { READY_INPUTS, summarizeReady, unreachedConditions } from './ready.ts';

const allTrue = (): ConditionInput[] =>
  READY_INPUTS.map((type) => ({ type, status: 'True', reason: 'Fine', message: `${type} fine` }));

describe('Ready summary', () => {
  test('True only when every phase condition is True, with the control plane reason', () => {
    const conditions = allTrue().map((condition) =>
      condition.type === 'ControlPlaneAvailable' ? { ...condition, reason: 'Sleeping' } : condition,
    );
    assert.deepEqual(summarizeReady(conditions), {
      type: 'Ready',
      status: 'True',
      reason: 'Sleeping',
      message: 'ControlPlaneAvailable fine',
    });
  });

  test('the first condition that is not True decides, however Ready was before', () => {
    const conditions = allTrue().map((condition) =>
      condition.type === 'DataStoreReady'
        ? { ...condition, status: 'False' as const, reason: 'DataStoreUnreachable', message: 'DataStore default: down' }
        : condition.type === 'ControlPlaneAvailable'
          ? { ...condition, status: 'False' as const, reason: 'NotReady' }
          : condition,
    );
    assert.deepEqual(summarizeReady(conditions), {
      type: 'Ready',
      status: 'False',
      reason: 'DataStoreUnreachable',
      message: 'DataStoreReady: DataStore default: down',
    });
  });

  test('a missing input leaves Ready Unknown; unreached inputs are Unknown naming the blocker', () => {
    const blocking: ConditionInput = { type: 'Valid', status: 'False', reason: 'InvalidSpec', message: 'bad' };
    const unreached = unreachedConditions([blocking], blocking);
    assert.deepEqual(
      unreached.map((condition) => [condition.type, condition.status, condition.reason]),
      READY_INPUTS.slice(1).map((type) => [type, 'Unknown', 'Waiting']),
    );
    assert.equal(summarizeReady([blocking, ...unreached]).status, 'False');
    assert.equal(summarizeReady([]).status, 'Unknown');
  });
});
