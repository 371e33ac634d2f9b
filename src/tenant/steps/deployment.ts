import type { V1Container, V1Deployment, V1Probe, V1Volume } from '@kubernetes/client-node';
import { etcdClientUrl } from '../../util/endpoints.ts';
import type { TenantContext } from '../context.ts';
import { objectNames, ownedLabels } from '../names.ts';

/** Where the Secrets appear inside the control-plane pod; kubeadm's layout. */
export const PKI_DIR = '/etc/kubernetes/pki';
export const KUBECONFIG_DIR = '/etc/kubernetes';
const CONTROLLER_MANAGER_PORT = 10257;
const SCHEDULER_PORT = 10259;
/** rw-r--r--: the API takes file modes as decimal numbers, so 0644 is 420 (0o644), never the literal 0o420. */
const SECRET_FILE_MODE = 0o644;

/** File locations the component arguments refer to; tests point them at a temporary directory. */
export interface PodPaths {
  pki: string;
  kubeconfigs: string;
}

const podPaths: PodPaths = { pki: PKI_DIR, kubeconfigs: KUBECONFIG_DIR };

/** `--flag=value` pairs from an arguments list; bare flags get an empty value. */
function parseFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg.trim());
    if (match?.[1]) flags.set(match[1], match[2] ?? '');
  }
  return flags;
}

/**
 * Managed flags first, then the user's extra flags that do not override one of them: a managed flag always wins,
 * because certificate paths and the datastore prefix are what keep tenants apart. With `extraWins` (addons whose
 * flags upstream lets the user override, e.g. the konnectivity agent's), an extra flag replaces the managed one in
 * its place instead.
 */
export function mergeArgs(
  managed: Readonly<Record<string, string>>,
  extraArgs: readonly string[],
  options: { extraWins?: boolean } = {},
): string[] {
  const extra = parseFlags(extraArgs);
  const flag = (name: string, value: string) => (value === '' ? `--${name}` : `--${name}=${value}`);
  const args = Object.entries(managed).map(([name, value]) => {
    const override = options.extraWins ? extra.get(name) : undefined;
    return override === undefined ? `--${name}=${value}` : flag(name, override);
  });
  for (const [name, value] of extra) {
    if (!(name in managed)) args.push(flag(name, value));
  }
  return args;
}

export function apiServerFlags(context: TenantContext, paths: PodPaths = podPaths): Record<string, string> {
  const pki = paths.pki;
  return {
    'advertise-address': context.advertiseAddress,
    'allow-privileged': 'true',
    'authorization-mode': 'Node,RBAC',
    'client-ca-file': `${pki}/ca.crt`,
    'enable-admission-plugins': context.admissionControllers.join(','),
    'enable-bootstrap-token-auth': 'true',
    'etcd-servers': context.datastore.endpoints.map(etcdClientUrl).join(','),
    'etcd-prefix': `/${context.datastore.schema}`,
    'etcd-cafile': `${pki}/etcd/ca.crt`,
    'etcd-certfile': `${pki}/etcd/server.crt`,
    'etcd-keyfile': `${pki}/etcd/server.key`,
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

export interface DeploymentInput {
  context: TenantContext;
  /** Hash of every Secret the pod mounts: when it changes, the pods roll. */
  podTemplateChecksum: string;
}

type Component = 'apiServer' | 'controllerManager' | 'scheduler';

/** The control-plane containers, each with the user's resources, security context and extra volume mounts. */
function componentContainers(context: TenantContext): V1Container[] {
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
      args: mergeArgs(apiServerFlags(context), spec.extraArgs?.apiServer ?? []),
      ports: [{ name: 'kube-apiserver', containerPort: context.port, protocol: 'TCP' }],
      livenessProbe: livenessProbe('/livez', context.port),
      readinessProbe: readinessProbe('/readyz', context.port),
      volumeMounts: [pkiMount],
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

/** The tenant control plane: kube-apiserver, kube-controller-manager and kube-scheduler in one pod. */
export function desiredDeployment({ context, podTemplateChecksum }: DeploymentInput): V1Deployment {
  const names = objectNames(context.name);
  const spec = context.deployment;
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
          ...optional('topologySpreadConstraints', spec.topologySpreadConstraints),
          ...optional('securityContext', spec.podSecurityContext),
          ...optional('initContainers', spec.additionalInitContainers),
          containers: [...componentContainers(context), ...(spec.additionalContainers ?? [])],
          volumes: [
            pkiVolume(context.name),
            kubeconfigVolume(
              'controller-manager-kubeconfig',
              names.controllerManagerKubeconfigSecret,
              'controller-manager.conf',
            ),
            kubeconfigVolume('scheduler-kubeconfig', names.schedulerKubeconfigSecret, 'scheduler.conf'),
            ...(spec.additionalVolumes ?? []),
          ],
        },
      },
    },
  };
}
