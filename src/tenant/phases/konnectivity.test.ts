import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { konnectivitySecretNames, konnectivityStatus } from './konnectivity.ts';

const tcp = (konnectivity?: Record<string, unknown>) =>
  ({
    apiVersion: 'kamaji.clastix.io/v1alpha1',
    kind: 'TenantControlPlane',
    metadata: { name: 'acme', namespace: 't', uid: 'u' },
    spec: {},
    status: konnectivity ? { addons: { konnectivity } } : {},
  }) as unknown as TenantControlPlane;

const entries = { certificate: { secretName: 'acme-konnectivity-certificate', checksum: 'c' } };

test('enabled: enabled true with the entries', () => {
  assert.deepEqual(konnectivityStatus(tcp(), true, entries), {
    addons: { konnectivity: { enabled: true, ...entries } },
  });
});

test('never enabled: no status at all; disabled: enabled false and only the present keys removed', () => {
  assert.deepEqual(konnectivityStatus(tcp(), false, entries), {});
  assert.deepEqual(konnectivityStatus(tcp({ enabled: true, ...entries }), false, { ...entries, service: {} }), {
    addons: { konnectivity: { enabled: false, certificate: null } },
  });
  assert.deepEqual(konnectivityStatus(tcp({ enabled: false }), false, entries), {
    addons: { konnectivity: { enabled: false } },
  });
});

test('the Secrets removed with the addon carry upstream names', () => {
  assert.deepEqual(konnectivitySecretNames('acme'), ['acme-konnectivity-certificate', 'acme-konnectivity-kubeconfig']);
});
