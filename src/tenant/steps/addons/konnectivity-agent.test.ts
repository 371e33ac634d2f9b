import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DefaultedKonnectivitySpec } from '../../../api/v1alpha1/defaults.ts';
import { KONNECTIVITY_DEFAULT_VERSION } from '../konnectivity.ts';
import { describeObject } from '../objects.ts';
import { LABEL_ADDON } from './common.ts';
import { konnectivityAgentArgs, konnectivityAgentImage, konnectivityAgentObjects } from './konnectivity-agent.ts';

// biome-ignore lint/suspicious/noExplicitAny: the test walks plain objects freely
type Loose = Record<string, any>;

const ENDPOINT = { address: '10.0.0.5' };
/** The agent workload (the third object). */
const workload = (konnectivity: DefaultedKonnectivitySpec) =>
  konnectivityAgentObjects(konnectivity, ENDPOINT)[2]?.object as Loose;
function konnectivityOf(agent: Partial<DefaultedKonnectivitySpec['agent']> = {}): DefaultedKonnectivitySpec {
  return {
    server: { image: 'registry.k8s.io/kas-network-proxy/proxy-server', port: 8132 },
    agent: {
      image: 'registry.k8s.io/kas-network-proxy/proxy-agent',
      mode: 'DaemonSet',
      hostNetwork: false,
      tolerations: [{ key: 'CriticalAddonsOnly', operator: 'Exists' }],
      ...agent,
    },
  };
}

test('the tenant side of the contract: the SA, the server binding to auth-delegator, the agent; all labelled', () => {
  const objects = konnectivityAgentObjects(konnectivityOf(), ENDPOINT);
  assert.deepEqual(objects.map(describeObject), [
    'ServiceAccount kube-system/konnectivity-agent',
    'ClusterRoleBinding system:konnectivity-server',
    'DaemonSet kube-system/konnectivity-agent',
  ]);
  for (const { object } of objects) assert.equal(object.metadata?.labels?.[LABEL_ADDON], 'konnectivity-agent');
  const binding = objects[1]?.object as Loose;
  assert.deepEqual(binding.roleRef, {
    apiGroup: 'rbac.authorization.k8s.io',
    kind: 'ClusterRole',
    name: 'system:auth-delegator',
  });
  assert.deepEqual(binding.subjects, [
    { apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: 'system:konnectivity-server' },
  ]);
});

test("the agent's flags: the server at the endpoint address and the server port; extraArgs override", () => {
  assert.deepEqual(konnectivityAgentArgs(konnectivityOf(), ENDPOINT), [
    '--logtostderr=true',
    '--ca-cert=/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
    '--proxy-server-host=10.0.0.5',
    '--proxy-server-port=8132',
    '--admin-server-port=8133',
    '--health-server-port=8134',
    '--service-account-token-path=/var/run/secrets/tokens/konnectivity-agent-token',
    '--agent-identifiers=ipv4=$(HOST_IP)',
  ]);
  const args = konnectivityAgentArgs(
    konnectivityOf({ extraArgs: ['--proxy-server-host=konnectivity.example', '-v=4', '--keepalive-time=30s'] }),
    ENDPOINT,
  );
  assert.ok(args.includes('--proxy-server-host=konnectivity.example'), 'overridden in place');
  assert.ok(!args.includes('--proxy-server-host=10.0.0.5'));
  assert.deepEqual(args.slice(-2), ['--v=4', '--keepalive-time=30s']);
});

test("the pod: the projected token of the server's audience, HOST_IP, tolerations, host network, priority", () => {
  const konnectivity = konnectivityOf({ hostNetwork: true, tolerations: [{ operator: 'Exists' }] });
  const pod = workload(konnectivity).spec.template.spec;
  assert.deepEqual(pod.volumes[0].projected.sources[0].serviceAccountToken, {
    path: 'konnectivity-agent-token',
    audience: 'system:konnectivity-server',
    expirationSeconds: 3600,
  });
  assert.deepEqual(pod.containers[0].volumeMounts, [
    { mountPath: '/var/run/secrets/tokens', name: 'konnectivity-agent-token' },
  ]);
  assert.deepEqual(pod.containers[0].env, [
    { name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
  ]);
  assert.deepEqual(pod.containers[0].command, ['/proxy-agent']);
  assert.equal(pod.serviceAccountName, 'konnectivity-agent');
  assert.equal(pod.priorityClassName, 'system-cluster-critical');
  assert.equal(pod.hostNetwork, true);
  assert.deepEqual(pod.tolerations, [{ operator: 'Exists' }]);
});

test('Deployment mode: a Deployment of agent.replicas (1 when unset) with the same pod', () => {
  const two = workload(konnectivityOf({ mode: 'Deployment', replicas: 2 }));
  assert.equal(two.kind, 'Deployment');
  assert.deepEqual(two.metadata, {
    name: 'konnectivity-agent',
    namespace: 'kube-system',
    labels: { 'k8s-app': 'konnectivity-agent', 'kamaji.clastix.io/addon': 'konnectivity-agent' },
  });
  assert.equal(two.spec.replicas, 2);
  assert.deepEqual(two.spec.selector.matchLabels, { 'k8s-app': 'konnectivity-agent' });
  assert.equal(workload(konnectivityOf({ mode: 'Deployment' })).spec.replicas, 1);
});

test('the image: agent.image with agent.version, else the default tag v0.34.0', () => {
  assert.equal(KONNECTIVITY_DEFAULT_VERSION, 'v0.34.0');
  assert.equal(konnectivityAgentImage(konnectivityOf()), 'registry.k8s.io/kas-network-proxy/proxy-agent:v0.34.0');
  assert.equal(
    konnectivityAgentImage(konnectivityOf({ image: 'mirror.example/agent', version: 'v0.33.0' })),
    'mirror.example/agent:v0.33.0',
  );
});
