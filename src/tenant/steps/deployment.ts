import type {
  V1Container,
  V1Deployment,
  V1Probe,
  V1TopologySpreadConstraint,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { etcdClientUrl } from '../../util/endpoints.ts';
import type { TenantContext } from '../context.ts';
import { objectNames, ownedLabels } from '../names.ts';
import { mergeArgs } from './args.ts';
import { kineApiServerFlags, kinePodParts } from './kine.ts';
import { konnectivityApiServerFlags, konnectivityPodParts } from './konnectivity.ts';
import { KUBECONFIG_DIR, PKI_DIR, type PodPaths, podPaths, SECRET_FILE_MODE } from './pod-paths.ts';

const CONTROLLER_MANAGER_PORT = 10257;
const SCHEDULER_PORT = 10259;

export { mergeArgs } from './args.ts';
export { KUBECONFIG_DIR, PKI_DIR, type PodPaths } from './pod-paths.ts';

export function apiServerFlags(context: TenantContext, paths: PodPaths = podPaths): Record<string, string> {
  const pki = paths.pki;
  return {
    'advertise-address': context.advertiseAddress,
    'allow-privileged': 'true',
    'authorization-mode': 'Node,RBAC',
    'client-ca-file': `${pki}/ca.crt`,
    'enable-admission-plugins': context.admissionControllers.join(','),
    'enable-bootstrap-token-auth': 'true',
    ...(context.datastore.driver === 'etcd'
      ? {
          'etcd-servers': context.datastore.endpoints.map(etcdClientUrl).join(','),
          'etcd-cafile': `${pki}/etcd/ca.crt`,
          'etcd-certfile': `${pki}/etcd/server.crt`,
          'etcd-keyfile': `${pki}/etcd/server.key`,
        }
      : kineApiServerFlags(paths)),
    'etcd-prefix': `/${context.datastore.schema}`,
    'kubelet-client-certificate': `${pki}/apiserver-kubelet-client.crt`,
    'kubelet-client-key': `${pki}/apiserver-kubelet-client.key`,
    'kubelet-preferred-address-types': context.kubeletPreferredAddressTypes.join(','),
    'proxy-client-cert-file': `${pki}/front-proxy-client.crt`,
    'proxy-client-key-file': `${pki}/front-proxy-client.key`,
    'requestheader-allowed-names': 'front-proxy-client',
    'requestheader-client-ca-file': `${pki}/front-proxy-ca.crt`,
    'requestheader-extra-headers-prefix': 'X-Remote-Extra-',
    'requestheader-group-headers': 'X-Remote-Group',
    'requestheader-username-headers': 'X-Remote-User',
    'secure-port': String(context.port),
    'service-account-issuer': `https://kubernetes.default.svc.${context.clusterDomain}`,
    'service-account-key-file': `${pki}/sa.pub`,
    'service-account-signing-key-file': `${pki}/sa.key`,
    'service-cluster-ip-range': context.serviceCidr,
    'tls-cert-file': `${pki}/apiserver.crt`,
    'tls-private-key-file': `${pki}/apiserver.key`,
    ...konnectivityApiServerFlags(context, paths),
  };
}

export function controllerManagerFlags(context: TenantContext, paths: PodPaths = podPaths): Record<string, string> {
  const kubeconfig = `${paths.kubeconfigs}/controller-manager.conf`;
  return {
    'allocate-node-cidrs': 'true',
    'authentication-kubeconfig': kubeconfig,
    'authorization-kubeconfig': kubeconfig,
    // The kubelet probes the pod address, so the health endpoint cannot stay on loopback.
    'bind-address': '0.0.0.0',
    'client-ca-file': `${paths.pki}/ca.crt`,
    'cluster-cidr': context.podCidr,
    'cluster-name': context.name,
    'cluster-signing-cert-file': `${paths.pki}/ca.crt`,
    'cluster-signing-key-file': `${paths.pki}/ca.key`,
    // bootstrapsigner and tokencleaner are what `kubeadm join` needs from a control plane.
    controllers: '*,bootstrapsigner,tokencleaner',
    kubeconfig,
    'leader-elect': 'true',
    'requestheader-client-ca-file': `${paths.pki}/front-proxy-ca.crt`,
    'root-ca-file': `${paths.pki}/ca.crt`,
    'service-account-private-key-file': `${paths.pki}/sa.key`,
    'service-cluster-ip-range': context.serviceCidr,
    'use-service-account-credentials': 'true',
  };
}

export function schedulerFlags(_context: TenantContext, paths: PodPaths = podPaths): Record<string, string> {
  const kubeconfig = `${paths.kubeconfigs}/scheduler.conf`;
  return {
    'authentication-kubeconfig': kubeconfig,
    'authorization-kubeconfig': kubeconfig,
    'bind-address': '0.0.0.0',
    kubeconfig,
    'leader-elect': 'true',
  };
}

/**
 * API server settings Kamaji chooses but, unlike the managed flags, the user may change through `extraArgs`.
 * `shutdown-delay-duration`: on SIGTERM (an eviction, a rollout) the API server keeps serving for 5 s while its
 * /readyz fails, so Services and load balancers stop sending it new connections before it closes its listener;
 * without it a drain made clients fail for the moment kube-proxy still routed to the pod (test/e2e/admin-nodes).
 * The upstream flag for exactly this; 5 s stays well inside the default 30 s termination grace period.
 */
export const API_SERVER_DEFAULT_FLAGS: Readonly<Record<string, string>> = { 'shutdown-delay-duration': '5s' };

/** The user's extra flags, then each default flag they do not set themselves. */
export function withDefaultFlags(defaults: Readonly<Record<string, string>>, extraArgs: readonly string[]): string[] {
  const named = new Set(extraArgs.map((arg) => arg.trim().replace(/^--?/, '').split('=')[0]));
  const unset = Object.entries(defaults).filter(([name]) => !named.has(name));
  return [...extraArgs, ...unset.map(([name, value]) => `--${name}=${value}`)];
}

/** Readiness, checked every second from the start: Ready is what the tenant waits for. */
function readinessProbe(path: string, port: number): V1Probe {
  return { httpGet: { path, port, scheme: 'HTTPS' }, periodSeconds: 1, failureThreshold: 3, timeoutSeconds: 1 };
}

/**
 * Liveness as kubeadm sets it for static control-plane pods: 10 s before the first check, then 8 failures 10 s
 * apart. No startup probes: a container with one is not ready until it passes, which would hold the pod's Ready
 * (and so the tenant's) for the controller-manager and scheduler, which do not serve clients.
 */
function livenessProbe(path: string, port: number): V1Probe {
  return {
    httpGet: { path, port, scheme: 'HTTPS' },
    initialDelaySeconds: 10,
    periodSeconds: 10,
    failureThreshold: 8,
    timeoutSeconds: 15,
  };
}

/** Every certificate the pod needs, gathered from the Secrets into one read-only directory tree. */
function pkiVolume(tcp: string): V1Volume {
  const names = objectNames(tcp);
  const secret = (name: string, keys: [string, string][]) => ({
    secret: { name, items: keys.map(([key, path]) => ({ key, path })) },
  });
  return {
    name: 'pki',
    projected: {
      defaultMode: SECRET_FILE_MODE,
      sources: [
        secret(names.caSecret, [
          ['ca.crt', 'ca.crt'],
          ['ca.key', 'ca.key'],
        ]),
        secret(names.frontProxyCaSecret, [
          ['front-proxy-ca.crt', 'front-proxy-ca.crt'],
          ['front-proxy-ca.key', 'front-proxy-ca.key'],
        ]),
        secret(names.serviceAccountSecret, [
          ['sa.pub', 'sa.pub'],
          ['sa.key', 'sa.key'],
        ]),
        secret(names.apiServerCertificateSecret, [
          ['apiserver.crt', 'apiserver.crt'],
          ['apiserver.key', 'apiserver.key'],
        ]),
        secret(names.kubeletClientCertificateSecret, [
          ['apiserver-kubelet-client.crt', 'apiserver-kubelet-client.crt'],
          ['apiserver-kubelet-client.key', 'apiserver-kubelet-client.key'],
        ]),
        secret(names.frontProxyClientCertificateSecret, [
          ['front-proxy-client.crt', 'front-proxy-client.crt'],
          ['front-proxy-client.key', 'front-proxy-client.key'],
        ]),
        secret(names.datastoreCertificateSecret, [
          ['ca.crt', 'etcd/ca.crt'],
          ['server.crt', 'etcd/server.crt'],
          ['server.key', 'etcd/server.key'],
        ]),
      ],
    },
  };
}

function kubeconfigVolume(name: string, secretName: string, key: string): V1Volume {
  return { name, secret: { secretName, defaultMode: SECRET_FILE_MODE, items: [{ key, path: key }] } };
}

/**
 * Replicas spread over admin nodes unless the spec places them itself (its own spread constraints or affinity):
 * one node going down then takes at most one replica. `ScheduleAnyway` keeps a one-node cluster scheduling them
 * all; `pod-template-hash` makes a rollout's new pods spread among themselves, not around the old ones.
 */
export function replicaSpread(selector: Record<string, string>): V1TopologySpreadConstraint[] {
  return [
    {
      maxSkew: 1,
      topologyKey: 'kubernetes.io/hostname',
      whenUnsatisfiable: 'ScheduleAnyway',
      labelSelector: { matchLabels: selector },
      matchLabelKeys: ['pod-template-hash'],
    },
  ];
}

export interface DeploymentInput {
  context: TenantContext;
  /** Hash of every Secret the pod mounts: when it changes, the pods roll. */
  podTemplateChecksum: string;
}

type Component = 'apiServer' | 'controllerManager' | 'scheduler';

/** The control-plane containers, each with the user's resources, security context and extra volume mounts. */
function componentContainers(context: TenantContext, konnectivityMounts: V1VolumeMount[]): V1Container[] {
  const spec = context.deployment;
  const registry = spec.registrySettings;
  const image = (name: string) => `${registry.registry}/${name}:${context.version}${registry.tagSuffix ?? ''}`;
  const pkiMount = { name: 'pki', mountPath: PKI_DIR, readOnly: true };
  const kubeconfigMount = (name: string, file: string) => ({
    name,
    mountPath: `${KUBECONFIG_DIR}/${file}`,
    subPath: file,
    readOnly: true,
  });
  const customised = (component: Component, container: V1Container): V1Container => ({
    ...container,
    imagePullPolicy: 'IfNotPresent',
    ...(spec.resources?.[component] ? { resources: spec.resources[component] } : {}),
    ...(spec.containerSecurityContexts?.[component]
      ? { securityContext: spec.containerSecurityContexts[component] }
      : {}),
    volumeMounts: [...(container.volumeMounts ?? []), ...(spec.additionalVolumeMounts?.[component] ?? [])],
  });
  return [
    customised('apiServer', {
      name: 'kube-apiserver',
      image: image(registry.apiServerImage),
      command: ['kube-apiserver'],
      args: mergeArgs(
        apiServerFlags(context),
        withDefaultFlags(API_SERVER_DEFAULT_FLAGS, spec.extraArgs?.apiServer ?? []),
      ),
      ports: [{ name: 'kube-apiserver', containerPort: context.port, protocol: 'TCP' }],
      livenessProbe: livenessProbe('/livez', context.port),
      readinessProbe: readinessProbe('/readyz', context.port),
      volumeMounts: [pkiMount, ...konnectivityMounts],
    }),
    customised('controllerManager', {
      name: 'kube-controller-manager',
      image: image(registry.controllerManagerImage),
      command: ['kube-controller-manager'],
      args: mergeArgs(controllerManagerFlags(context), spec.extraArgs?.controllerManager ?? []),
      livenessProbe: livenessProbe('/healthz', CONTROLLER_MANAGER_PORT),
      volumeMounts: [pkiMount, kubeconfigMount('controller-manager-kubeconfig', 'controller-manager.conf')],
    }),
    customised('scheduler', {
      name: 'kube-scheduler',
      image: image(registry.schedulerImage),
      command: ['kube-scheduler'],
      args: mergeArgs(schedulerFlags(context), spec.extraArgs?.scheduler ?? []),
      livenessProbe: livenessProbe('/healthz', SCHEDULER_PORT),
      volumeMounts: [kubeconfigMount('scheduler-kubeconfig', 'scheduler.conf')],
    }),
  ];
}

/**
 * The tenant control plane: kube-apiserver, kube-controller-manager and kube-scheduler in one pod, with kine
 * beside the API server for a SQL DataStore and konnectivity-server when `spec.addons.konnectivity` is set.
 */
export function desiredDeployment({ context, podTemplateChecksum }: DeploymentInput): V1Deployment {
  const names = objectNames(context.name);
  const spec = context.deployment;
  const konnectivity = konnectivityPodParts(context);
  const kine = kinePodParts(context);
  const selector = ownedLabels(context.name, 'deployment');
  const optional = <K extends string, V>(key: K, value: V | undefined) =>
    (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: names.deployment,
      namespace: context.namespace,
      labels: { ...spec.additionalMetadata?.labels, ...selector },
      ...optional('annotations', spec.additionalMetadata?.annotations),
    },
    spec: {
      replicas: spec.replicas,
      selector: { matchLabels: selector },
      strategy: spec.strategy,
      template: {
        metadata: {
          labels: { ...spec.podAdditionalMetadata?.labels, ...selector },
          annotations: {
            ...spec.podAdditionalMetadata?.annotations,
            'kamaji.clastix.io/pod-template-checksum': podTemplateChecksum,
          },
        },
        spec: {
          serviceAccountName: spec.serviceAccountName,
          ...optional('automountServiceAccountToken', spec.automountServiceAccountToken),
          ...optional('runtimeClassName', spec.runtimeClassName),
          ...optional('nodeSelector', spec.nodeSelector),
          ...optional('tolerations', spec.tolerations),
          ...optional('affinity', spec.affinity),
          ...optional(
            'topologySpreadConstraints',
            spec.topologySpreadConstraints ?? (spec.affinity ? undefined : replicaSpread(selector)),
          ),
          ...optional('securityContext', spec.podSecurityContext),
          ...optional('initContainers', spec.additionalInitContainers),
          containers: [
            ...componentContainers(context, konnectivity.apiServerMounts),
            ...kine.containers,
            ...konnectivity.containers,
            ...(spec.additionalContainers ?? []),
          ],
          volumes: [
            pkiVolume(context.name),
            kubeconfigVolume(
              'controller-manager-kubeconfig',
              names.controllerManagerKubeconfigSecret,
              'controller-manager.conf',
            ),
            kubeconfigVolume('scheduler-kubeconfig', names.schedulerKubeconfigSecret, 'scheduler.conf'),
            ...kine.volumes,
            ...konnectivity.volumes,
            ...(spec.additionalVolumes ?? []),
          ],
        },
      },
    },
  };
}
