import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { customResourceDefinitionsYaml } from './crds.ts';

const CHART_CRDS = join(import.meta.dirname, '..', '..', 'charts', 'kamaji', 'crds', 'kamaji.clastix.io.yaml');

test("the chart's CRDs are the ones generated from the TypeScript types", async () => {
  const inChart = await readFile(CHART_CRDS, 'utf8');
  assert.ok(
    inChart === customResourceDefinitionsYaml(),
    `charts/kamaji/crds/kamaji.clastix.io.yaml differs from the API types: regenerate it with\n` +
      `  node bin/kamaji.js crds > charts/kamaji/crds/kamaji.clastix.io.yaml`,
  );
});
