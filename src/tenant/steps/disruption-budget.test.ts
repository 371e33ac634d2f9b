import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultedDeployment, sampleContext } from '../../../test/support/tenant-context.ts';
import { desiredDeployment } from './deployment.ts';
import { desiredDisruptionBudget } from './disruption-budget.ts';

const tenant = { name: 'acme', namespace: 'tenants' };

test('two or more replicas get a budget allowing one control-plane pod down at a time', () => {
  const budget = desiredDisruptionBudget({ tenant, replicas: 2 });
  assert.equal(budget?.metadata?.name, 'acme');
  assert.equal(budget?.metadata?.namespace, 'tenants');
  assert.equal(budget?.spec?.maxUnavailable, 1);
  assert.equal(budget?.spec?.minAvailable, undefined);
  assert.equal(budget?.metadata?.labels?.['kamaji.clastix.io/name'], 'acme', 'found by the tenant label at deletion');
  assert.equal(desiredDisruptionBudget({ tenant, replicas: 5 })?.spec?.maxUnavailable, 1);
});

test("the budget selects exactly the Deployment's pods", () => {
  const deployment = desiredDeployment({
    context: sampleContext({ deployment: { ...defaultedDeployment(), replicas: 2 } }),
    podTemplateChecksum: 'x',
  });
  const budget = desiredDisruptionBudget({ tenant: { name: 'acme', namespace: 'x' }, replicas: 2 });
  assert.deepEqual(budget?.spec?.selector?.matchLabels, deployment.spec?.selector.matchLabels);
});

test('fewer than two replicas: no budget (one would block every drain, zero protects nothing)', () => {
  assert.equal(desiredDisruptionBudget({ tenant, replicas: 1 }), undefined);
  assert.equal(desiredDisruptionBudget({ tenant, replicas: 0 }), undefined);
});
