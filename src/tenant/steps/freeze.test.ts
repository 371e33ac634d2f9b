import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1ValidatingAdmissionPolicy, V1ValidatingAdmissionPolicyBinding } from '@kubernetes/client-node';
import { FREEZE_NAME, freezeMessage, freezeObjects } from './freeze.ts';
import { describeObject } from './objects.ts';

test('the freeze is a policy and its binding named kamaji-freeze, denying every write with the migration named', () => {
  const objects = freezeObjects('etcd-a', 'pg-b');
  assert.deepEqual(objects.map(describeObject), [
    `ValidatingAdmissionPolicy ${FREEZE_NAME}`,
    `ValidatingAdmissionPolicyBinding ${FREEZE_NAME}`,
  ]);
  const policy = objects[0]?.object as V1ValidatingAdmissionPolicy;
  const binding = objects[1]?.object as V1ValidatingAdmissionPolicyBinding;
  assert.deepEqual(binding.spec, { policyName: FREEZE_NAME, validationActions: ['Deny'] });
  assert.equal(policy.spec?.failurePolicy, 'Fail');
  assert.deepEqual(policy.spec?.validations, [
    { expression: 'false', reason: 'Forbidden', message: freezeMessage('etcd-a', 'pg-b') },
  ]);
  assert.match(freezeMessage('etcd-a', 'pg-b'), /from DataStore etcd-a to pg-b.*retry in a moment$/);
  const [rule] = policy.spec?.matchConstraints?.resourceRules ?? [];
  assert.deepEqual(rule, {
    apiGroups: ['*'],
    apiVersions: ['*'],
    operations: ['CREATE', 'UPDATE', 'DELETE'],
    resources: ['*/*'],
  });
});

test('only token requests, which store nothing, are left out of the freeze', () => {
  const policy = freezeObjects('a', 'b')[0]?.object as V1ValidatingAdmissionPolicy;
  assert.deepEqual(policy.spec?.matchConstraints?.excludeResourceRules, [
    { apiGroups: [''], apiVersions: ['*'], operations: ['CREATE'], resources: ['serviceaccounts/token'] },
  ]);
});
