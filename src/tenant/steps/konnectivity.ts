import type { V1ConfigMap, V1Container, V1ServicePort, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import type { CertificateAndKey } from '../../pki/certificates.ts';
import { buildKubeconfig, kubeconfigToYaml } from '../../pki/kubeconfig.ts';
import { KONNECTIVITY_VERSION } from '../../toolchain/versions.ts';
import type { TenantContext } from '../context.ts';
import { objectNames, ownedLabels } from '../names.ts';
import { mergeArgs } from './args.ts';
import {
  type DesiredSecret,
  keepOrIssue,
  LEAF_VALIDITY_DAYS,
  type PkiOptions,
  type SecretText,
} from './certificates.ts';
import { type PodPaths, podPaths, SECRET_FILE_MODE } from './pod-paths.ts';

/**
 * konnectivity-server as a sidecar of the tenant API server, as upstream Kamaji runs it: the API server reaches
 * nodes, pods and services of the tenant through it (egress selector `cluster`, over a Unix socket shared by the
 * two containers), and the agents in the tenant dial it at `<endpoint address>:<server.port>`.
 */

/** The server image tag when `server.version` is unset (the agent uses the same one). */
export const KONNECTIVITY_DEFAULT_VERSION = KONNECTIVITY_VERSION;
export const KONNECTIVITY_SERVER_CONTAINER = 'konnectivity-server';
/** Where upstream's image has the binary (and ours too), so either image works. */
export const KONNECTIVITY_SERVER_COMMAND = '/proxy-server';
/** User (certificate CN) of the server's kubeconfig and the audience of the agents' tokens. */
export const KONNECTIVITY_SERVER_USER = 'system:konnectivity-server';
export const KONNECTIVITY_AGENT_NAMESPACE = 'kube-system';
export const KONNECTIVITY_AGENT_SERVICE_ACCOUNT = 'konnectivity-agent';
export const KONNECTIVITY_ADMIN_PORT = 8133;
export const KONNECTIVITY_HEALTH_PORT = 8134;
/** The Service port's name, as upstream. */
export const KONNECTIVITY_SERVICE_PORT_NAME = 'konnectivity-server';

/** The directory both containers mount (an in-memory emptyDir) and the socket in it; upstream's names. */
export const KONNECTIVITY_UDS_DIR = '/run/konnectivity';
export const KONNECTIVITY_UDS_NAME = `${KONNECTIVITY_UDS_DIR}/konnectivity-server.socket`;
/** The ConfigMap key holding the EgressSelectorConfiguration, and where the API server sees it. */
export const EGRESS_SELECTOR_KEY = 'egress-selector-configuration.yaml';
export const KONNECTIVITY_KUBECONFIG_KEY = 'konnectivity-server.conf';

const VOLUME = {
  uds: 'konnectivity-uds',
  egress: 'egress-selector-configuration',
  kubeconfig: 'konnectivity-server-kubeconfig',
} as const;

export type KonnectivityServer = NonNullable<TenantContext['konnectivity']>;

function egressSelectorDir(paths: PodPaths): string {
  return `${paths.kubeconfigs}/konnectivity/configurations`;
}

export function konnectivityImage(server: KonnectivityServer): string {
  return `${server.image}:${server.version || KONNECTIVITY_DEFAULT_VERSION}`;
}

/** The API server's flag pointing at the egress selector configuration; none without Konnectivity. */
export function konnectivityApiServerFlags(context: TenantContext, paths: PodPaths = podPaths): Record<string, string> {
  if (!context.konnectivity) return {};
  return { 'egress-selector-config-file': `${egressSelectorDir(paths)}/${EGRESS_SELECTOR_KEY}` };
}

/**
 * The server's flags, as upstream Kamaji and the Kubernetes "Set up Konnectivity service" task set them: the API
 * server on the socket (`--server-port=0`), agents over TLS with the API server's own serving certificate (the
 * agents dial the endpoint address, which it names, and verify it with the tenant CA), agents authenticated by
 * their service-account token (audience system:konnectivity-server) through a TokenReview made with the
 * server's kubeconfig.
 */
export function konnectivityServerFlags(
  context: TenantContext,
  server: KonnectivityServer,
  paths: PodPaths = podPaths,
): Record<string, string> {
  return {
    logtostderr: 'true',
    'uds-name': KONNECTIVITY_UDS_NAME,
    // The emptyDir outlives a container restart, and with it a stale socket.
    'delete-existing-uds-file': 'true',
    'cluster-cert': `${paths.pki}/apiserver.crt`,
    'cluster-key': `${paths.pki}/apiserver.key`,
    mode: 'grpc',
    'server-port': '0',
    'agent-port': String(server.port),
    'admin-port': String(KONNECTIVITY_ADMIN_PORT),
    'health-port': String(KONNECTIVITY_HEALTH_PORT),
    'agent-namespace': KONNECTIVITY_AGENT_NAMESPACE,
    'agent-service-account': KONNECTIVITY_AGENT_SERVICE_ACCOUNT,
    kubeconfig: `${paths.kubeconfigs}/${KONNECTIVITY_KUBECONFIG_KEY}`,
    'authentication-audience': KONNECTIVITY_SERVER_USER,
    // Agents keep connecting through the Service until they hold a tunnel to this many distinct servers.
    'server-count': String(Math.max(1, context.deployment.replicas)),
  };
}

/** The EgressSelectorConfiguration: traffic to the tenant cluster goes through the server's socket. */
export function egressSelectorConfiguration(udsName: string = KONNECTIVITY_UDS_NAME): string {
  return [
    'apiVersion: apiserver.k8s.io/v1beta1',
    'kind: EgressSelectorConfiguration',
    'egressSelections:',
    '- name: cluster',
    '  connection:',
    '    proxyProtocol: GRPC',
    '    transport:',
    '      uds:',
    `        udsName: ${JSON.stringify(udsName)}`,
    '',
  ].join('\n');
}

/** The ConfigMap the API server mounts its egress selector configuration from (upstream's name and key). */
export function desiredEgressSelectorConfigMap(context: Pick<TenantContext, 'name' | 'namespace'>): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: objectNames(context.name).konnectivityEgressConfigMap,
      namespace: context.namespace,
      labels: ownedLabels(context.name, 'konnectivity-egress-selector-configuration'),
    },
    data: { [EGRESS_SELECTOR_KEY]: egressSelectorConfiguration() },
  };
}

/** The server's container; its managed flags win over `server.extraArgs`. */
export function konnectivityServerContainer(
  context: TenantContext,
  server: KonnectivityServer,
  paths: PodPaths = podPaths,
): V1Container {
  const pkiFile = (file: string): V1VolumeMount => ({
    name: 'pki',
    mountPath: `${paths.pki}/${file}`,
    subPath: file,
    readOnly: true,
  });
  return {
    name: KONNECTIVITY_SERVER_CONTAINER,
    image: konnectivityImage(server),
    imagePullPolicy: 'IfNotPresent',
    command: [KONNECTIVITY_SERVER_COMMAND],
    args: mergeArgs(konnectivityServerFlags(context, server, paths), server.extraArgs ?? []),
    ports: [
      { name: 'agentport', containerPort: server.port, protocol: 'TCP' },
      { name: 'adminport', containerPort: KONNECTIVITY_ADMIN_PORT, protocol: 'TCP' },
      { name: 'healthport', containerPort: KONNECTIVITY_HEALTH_PORT, protocol: 'TCP' },
    ],
    livenessProbe: {
      httpGet: { path: '/healthz', port: KONNECTIVITY_HEALTH_PORT, scheme: 'HTTP' },
      initialDelaySeconds: 30,
      periodSeconds: 10,
      timeoutSeconds: 60,
      failureThreshold: 3,
    },
    ...(server.resources ? { resources: server.resources } : {}),
    ...(server.securityContext ? { securityContext: server.securityContext } : {}),
    volumeMounts: [
      // Only the serving pair it presents to agents, not the CA keys the rest of the pki volume holds.
      pkiFile('apiserver.crt'),
      pkiFile('apiserver.key'),
      {
        name: VOLUME.kubeconfig,
        mountPath: `${paths.kubeconfigs}/${KONNECTIVITY_KUBECONFIG_KEY}`,
        subPath: KONNECTIVITY_KUBECONFIG_KEY,
        readOnly: true,
      },
      { name: VOLUME.uds, mountPath: KONNECTIVITY_UDS_DIR },
    ],
  };
}

/** What Konnectivity adds to the control-plane pod: the server, the API server's mounts, and their volumes. */
export function konnectivityPodParts(
  context: TenantContext,
  paths: PodPaths = podPaths,
): { containers: V1Container[]; apiServerMounts: V1VolumeMount[]; volumes: V1Volume[] } {
  const server = context.konnectivity;
  if (!server) return { containers: [], apiServerMounts: [], volumes: [] };
  const names = objectNames(context.name);
  return {
    containers: [konnectivityServerContainer(context, server, paths)],
    apiServerMounts: [
      { name: VOLUME.uds, mountPath: KONNECTIVITY_UDS_DIR },
      { name: VOLUME.egress, mountPath: egressSelectorDir(paths), readOnly: true },
    ],
    volumes: [
      { name: VOLUME.uds, emptyDir: { medium: 'Memory' } },
      {
        name: VOLUME.egress,
        configMap: {
          name: names.konnectivityEgressConfigMap,
          defaultMode: SECRET_FILE_MODE,
          items: [{ key: EGRESS_SELECTOR_KEY, path: EGRESS_SELECTOR_KEY }],
        },
      },
      {
        name: VOLUME.kubeconfig,
        secret: {
          secretName: names.konnectivityKubeconfigSecret,
          defaultMode: SECRET_FILE_MODE,
          items: [{ key: KONNECTIVITY_KUBECONFIG_KEY, path: KONNECTIVITY_KUBECONFIG_KEY }],
        },
      },
    ],
  };
}

/**
 * The server's port on the tenant Service, as upstream: port = targetPort = server.port, and the node port too
 * with a NodePort Service (agents dial the endpoint address at server.port whatever the Service type).
 */
export function konnectivityServicePort(port: number, serviceType: string): V1ServicePort {
  return {
    name: KONNECTIVITY_SERVICE_PORT_NAME,
    protocol: 'TCP',
    port,
    targetPort: port,
    ...(serviceType === 'NodePort' ? { nodePort: port } : {}),
  };
}

/**
 * The server's identity (upstream's `<tcp>-konnectivity-certificate`, a kubernetes.io/tls Secret: CN
 * system:konnectivity-server, signed by the tenant CA) and its kubeconfig for the API server in the same pod
 * (`<tcp>-konnectivity-kubeconfig`, key konnectivity-server.conf), which embeds that same certificate. Kept while
 * good, renewed like every other leaf (30 days before expiry, a new CA, the rotate annotation).
 */
export async function desiredKonnectivitySecrets(
  context: TenantContext,
  ca: CertificateAndKey,
  existing: ReadonlyMap<string, SecretText>,
  options: PkiOptions,
): Promise<DesiredSecret[]> {
  const names = objectNames(context.name);
  const stored = existing.get(names.konnectivityCertificateSecret);
  const certificate = await keepOrIssue(
    stored ? { certificatePem: stored['tls.crt'] ?? '', privateKeyPem: stored['tls.key'] ?? '' } : undefined,
    ca,
    {
      commonName: KONNECTIVITY_SERVER_USER,
      // Upstream's usages; unlike upstream, not in system:masters: TokenReviews need only system:auth-delegator.
      usages: ['clientAuth', 'serverAuth'],
      validityDays: LEAF_VALIDITY_DAYS,
      keyAlgorithm: context.keyAlgorithm,
    },
    options,
  );
  const kubeconfig = kubeconfigToYaml(
    buildKubeconfig({
      clusterName: 'kubernetes',
      server: `https://localhost:${context.port}`,
      caCertificatePem: ca.certificatePem,
      userName: KONNECTIVITY_SERVER_USER,
      clientCertificatePem: certificate.certificatePem,
      clientKeyPem: certificate.privateKeyPem,
    }),
  );
  return [
    {
      name: names.konnectivityCertificateSecret,
      component: 'konnectivity-certificate',
      type: 'kubernetes.io/tls',
      data: { 'tls.crt': certificate.certificatePem, 'tls.key': certificate.privateKeyPem },
    },
    {
      name: names.konnectivityKubeconfigSecret,
      component: 'konnectivity-kubeconfig',
      data: { [KONNECTIVITY_KUBECONFIG_KEY]: kubeconfig },
    },
  ];
}
