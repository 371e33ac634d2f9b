import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Deployment } from '@kubernetes/client-node';
import { installedVersionAfter, versionStatus } from './status.ts';

const deployment = (replicas: number, ready: number, updated = ready, generation = 1, observed = 1): V1Deployment => ({
  metadata: { generation },
  spec: { replicas, selector: {}, template: {} },
  status: { replicas, readyReplicas: ready, updatedReplicas: updated, observedGeneration: observed },
});

test('version status follows the Deployment', () => {
  const base = { desiredVersion: 'v1.35.4', installedVersion: undefined };
  assert.equal(versionStatus({ ...base, deployment: undefined }), 'Provisioning');
  assert.equal(versionStatus({ ...base, deployment: deployment(2, 0) }), 'Provisioning');
  assert.equal(versionStatus({ ...base, deployment: deployment(2, 2) }), 'Ready');
  assert.equal(
    versionStatus({ ...base, deployment: deployment(2, 2, 2, 2, 1) }),
    'Provisioning',
    'a new generation not observed yet',
  );
  assert.equal(versionStatus({ ...base, deployment: deployment(0, 0) }), 'Sleeping');
  const installed = { desiredVersion: 'v1.35.4', installedVersion: 'v1.35.4' };
  assert.equal(versionStatus({ ...installed, deployment: deployment(2, 1) }), 'NotReady');
  const upgrading = { desiredVersion: 'v1.36.0', installedVersion: 'v1.35.4' };
  assert.equal(versionStatus({ ...upgrading, deployment: deployment(2, 2, 1) }), 'Upgrading');
  assert.equal(installedVersionAfter('Upgrading', { ...upgrading, deployment: undefined }), 'v1.35.4');
  assert.equal(installedVersionAfter('Ready', { ...upgrading, deployment: undefined }), 'v1.36.0');
});
