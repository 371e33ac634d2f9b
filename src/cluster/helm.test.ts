import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CHART_DIR, helmTemplateArgs, helmUpgradeArgs } from './helm.ts';

const release = { name: 'kamaji', namespace: 'kamaji-system', values: ['replicaCount=1', 'image.tag=v9'] };

test('helm template renders the CRDs too, with each value as its own --set', () => {
  assert.deepEqual(helmTemplateArgs(release), [
    'template',
    'kamaji',
    CHART_DIR,
    '--namespace',
    'kamaji-system',
    '--include-crds',
    '--set',
    'replicaCount=1',
    '--set',
    'image.tag=v9',
  ]);
});

test('helm upgrade --install resets the values to the ones given and names the kubeconfig when there is one', () => {
  const args = helmUpgradeArgs(release, '/k/admin.kubeconfig');
  assert.deepEqual(args.slice(0, 4), ['upgrade', '--install', 'kamaji', CHART_DIR]);
  for (const flag of ['--create-namespace', '--reset-values']) assert.ok(args.includes(flag), flag);
  assert.equal(args[args.indexOf('--kubeconfig') + 1], '/k/admin.kubeconfig');
  assert.ok(!helmUpgradeArgs(release, undefined).includes('--kubeconfig'));
});

test('a --set without "=" is refused, naming the fix', () => {
  assert.throws(() => helmTemplateArgs({ ...release, values: ['replicaCount'] }), /--set replicaCount: give key=value/);
});
