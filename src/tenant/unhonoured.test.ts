import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TenantControlPlaneSpec } from '../api/v1alpha1/tenant-control-plane.ts';
import { fieldsHonouredCondition } from './unhonoured.ts';

const base: TenantControlPlaneSpec = {
  controlPlane: { service: { serviceType: 'ClusterIP' } },
  kubernetes: { version: 'v1.35.4', kubelet: { cgroupfs: 'cgroupfs' } },
};

test('FieldsHonoured is True for a spec this operator acts on fully', () => {
  assert.deepEqual(fieldsHonouredCondition(base), {
    type: 'FieldsHonoured',
    status: 'True',
    reason: 'AllHonoured',
    message: 'every field set in the spec is acted on',
  });
});

test('FieldsHonoured lists each accepted field that is not acted on yet', () => {
  const spec: TenantControlPlaneSpec = {
    ...base,
    controlPlane: { service: { serviceType: 'LoadBalancer', allocateLoadBalancerNodePorts: false } },
    networkProfile: { allowAddressAsExternalIP: true },
    // Acted on by the addons phase and the konnectivity server.
    addons: { coreDNS: {}, kubeProxy: {}, konnectivity: { server: { port: 31132 } } },
  };
  const condition = fieldsHonouredCondition(spec);
  assert.equal(condition.status, 'False');
  assert.equal(condition.reason, 'NotImplementedYet');
  assert.equal(
    condition.message,
    'accepted and kept, but not acted on yet: spec.controlPlane.service.allocateLoadBalancerNodePorts, spec.networkProfile.allowAddressAsExternalIP',
  );
});
