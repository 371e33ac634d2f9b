import assert from 'node:assert/strict';
import { test } from 'node:test';
import { desiredService, observedEndpoint } from './service.ts';

const tenant = { name: 'acme', namespace: 'tenants', port: 6443 };

test('a NodePort Service uses the network profile port as node port when it is in range', () => {
  const inRange = desiredService({ tenant: { ...tenant, port: 31443 }, serviceType: 'NodePort' });
  assert.equal(inRange.spec?.ports?.[0]?.nodePort, 31443);
  const outOfRange = desiredService({ tenant, serviceType: 'NodePort' });
  assert.equal(outOfRange.spec?.ports?.[0]?.nodePort, undefined);
  assert.deepEqual(outOfRange.spec?.selector, {
    'kamaji.clastix.io/name': 'acme',
    'kamaji.clastix.io/component': 'deployment',
  });
});

test('load-balancer settings appear only on LoadBalancer Services', () => {
  const ranges = ['10.0.0.0/8'];
  assert.equal(
    desiredService({ tenant, serviceType: 'ClusterIP', loadBalancerSourceRanges: ranges }).spec
      ?.loadBalancerSourceRanges,
    undefined,
  );
  assert.deepEqual(
    desiredService({ tenant, serviceType: 'LoadBalancer', loadBalancerSourceRanges: ranges }).spec
      ?.loadBalancerSourceRanges,
    ranges,
  );
});

test('the endpoint comes from the live Service, or is unknown while a load balancer is pending', () => {
  const ports = [{ port: 6443, nodePort: 31000 }];
  assert.deepEqual(observedEndpoint({ spec: { type: 'ClusterIP', clusterIP: '10.96.3.4', ports } }, {}), {
    address: '10.96.3.4',
    port: 6443,
  });
  assert.deepEqual(observedEndpoint({ spec: { type: 'NodePort', ports } }, { nodeAddress: '192.168.1.2' }), {
    address: '192.168.1.2',
    port: 31000,
  });
  assert.equal(observedEndpoint({ spec: { type: 'LoadBalancer', ports }, status: {} }, {}), undefined);
  assert.deepEqual(
    observedEndpoint(
      { spec: { type: 'LoadBalancer', ports }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.9' }] } } },
      {},
    ),
    { address: '203.0.113.9', port: 6443 },
  );
  assert.deepEqual(
    observedEndpoint({ spec: { type: 'ClusterIP', clusterIP: '10.96.3.4', ports } }, { explicitAddress: '1.2.3.4' }),
    { address: '1.2.3.4', port: 6443 },
  );
});
