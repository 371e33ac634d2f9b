import type { KubernetesObject, V1PodTemplateSpec } from '@kubernetes/client-node';
import type { DefaultedKonnectivitySpec } from '../../../api/v1alpha1/defaults.ts';
import { mergeArgs } from '../deployment.ts';
import { KONNECTIVITY_DEFAULT_VERSION, KONNECTIVITY_SERVER_USER } from '../konnectivity.ts';
import type { TenantObject } from '../objects.ts';
import {
  addonResources,
  clusterRoleBinding,
  KUBE_SYSTEM,
  labelled,
  serviceAccount,
  tenantObject,
  userSubject,
} from './common.ts';

/**
 * The tenant side of Konnectivity (upstream Kamaji's internal/resources/konnectivity agent, service account and
 * cluster role binding): agents on the workers dial the konnectivity-server beside the tenant's API server at
 * `<endpoint address>:<spec.addons.konnectivity.server.port>` and authenticate with a service-account token of
 * audience `system:konnectivity-server`; the server checks it with a TokenReview as User `system:konnectivity-server`.
 */

/** Name of the agent's ServiceAccount, DaemonSet or Deployment, and its `k8s-app` label, in kube-system. */
export const KONNECTIVITY_AGENT_NAME = 'konnectivity-agent';
/** Where upstream's image has the binary (and ours too), so either image works. */
export const KONNECTIVITY_AGENT_COMMAND = '/proxy-agent';
const TOKEN_DIR = '/var/run/secrets/tokens';
const TOKEN_NAME = 'konnectivity-agent-token';
const HEALTH_PORT = 8134;

export function konnectivityAgentImage(konnectivity: DefaultedKonnectivitySpec): string {
  return `${konnectivity.agent.image}:${konnectivity.agent.version || KONNECTIVITY_DEFAULT_VERSION}`;
}

/** The agent's flags: upstream's, with `agent.extraArgs` overriding any of them. */
export function konnectivityAgentArgs(
  konnectivity: DefaultedKonnectivitySpec,
  endpoint: { address: string },
): string[] {
  const managed = {
    logtostderr: 'true',
    'ca-cert': '/var/run/secrets/kubernetes.io/serviceaccount/ca.crt',
    'proxy-server-host': endpoint.address,
    'proxy-server-port': String(konnectivity.server.port),
    'admin-server-port': '8133',
    'health-server-port': String(HEALTH_PORT),
    'service-account-token-path': `${TOKEN_DIR}/${TOKEN_NAME}`,
    'agent-identifiers': 'ipv4=$(HOST_IP)',
  };
  return mergeArgs(managed, konnectivity.agent.extraArgs ?? [], { extraWins: true });
}

function podTemplate(konnectivity: DefaultedKonnectivitySpec, endpoint: { address: string }): V1PodTemplateSpec {
  const { agent } = konnectivity;
  return {
    metadata: { labels: { 'k8s-app': KONNECTIVITY_AGENT_NAME } },
    spec: {
      priorityClassName: 'system-cluster-critical',
      tolerations: agent.tolerations,
      hostNetwork: agent.hostNetwork,
      nodeSelector: { 'kubernetes.io/os': 'linux' },
      serviceAccountName: KONNECTIVITY_AGENT_NAME,
      volumes: [
        {
          name: TOKEN_NAME,
          projected: {
            sources: [
              {
                serviceAccountToken: {
                  path: TOKEN_NAME,
                  audience: KONNECTIVITY_SERVER_USER,
                  expirationSeconds: 3600,
                },
              },
            ],
            defaultMode: 0o644,
          },
        },
      ],
      containers: [
        {
          name: KONNECTIVITY_AGENT_NAME,
          image: konnectivityAgentImage(konnectivity),
          imagePullPolicy: 'IfNotPresent',
          command: [KONNECTIVITY_AGENT_COMMAND],
          args: konnectivityAgentArgs(konnectivity, endpoint),
          env: [{ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } }],
          volumeMounts: [{ mountPath: TOKEN_DIR, name: TOKEN_NAME }],
          livenessProbe: {
            httpGet: { path: '/healthz', port: HEALTH_PORT, scheme: 'HTTP' },
            initialDelaySeconds: 15,
            timeoutSeconds: 15,
            periodSeconds: 10,
            successThreshold: 1,
            failureThreshold: 3,
          },
        },
      ],
    },
  };
}

/** The agent workload: a DaemonSet (default), or a Deployment of `agent.replicas` (1 when unset). */
export function konnectivityAgentWorkload(
  konnectivity: DefaultedKonnectivitySpec,
  endpoint: { address: string },
): TenantObject {
  const labels = { 'k8s-app': KONNECTIVITY_AGENT_NAME };
  const common = {
    metadata: { name: KONNECTIVITY_AGENT_NAME, namespace: KUBE_SYSTEM, labels: { ...labels } },
  };
  const template = podTemplate(konnectivity, endpoint);
  if (konnectivity.agent.mode === 'Deployment') {
    return tenantObject(addonResources.deployment, {
      ...common,
      spec: { replicas: konnectivity.agent.replicas || 1, selector: { matchLabels: { ...labels } }, template },
    } as KubernetesObject);
  }
  return tenantObject(addonResources.daemonSet, {
    ...common,
    spec: { selector: { matchLabels: { ...labels } }, template },
  } as KubernetesObject);
}

/** The ServiceAccount, the server's ClusterRoleBinding and the agent, labelled as the konnectivity addon's. */
export function konnectivityAgentObjects(
  konnectivity: DefaultedKonnectivitySpec,
  endpoint: { address: string },
): TenantObject[] {
  return labelled('konnectivity', [
    serviceAccount(KONNECTIVITY_AGENT_NAME),
    clusterRoleBinding(KONNECTIVITY_SERVER_USER, 'system:auth-delegator', [userSubject(KONNECTIVITY_SERVER_USER)]),
    konnectivityAgentWorkload(konnectivity, endpoint),
  ]);
}
