/**
 * Semantic checks the OpenAPI schema and its CEL rules cannot express: supported versions and upgrade paths, what
 * addresses and CIDRs mean, names that would clash with what Kamaji manages. Pure: the caller decides when to run
 * them (admission, reconciliation) and what to do with the problems.
 */
import { isIP } from 'node:net';
import { parseEndpoint } from '../../util/endpoints.ts';
import { cidrContains, parseCidr, parseIp } from '../../util/ip.ts';
import type { DataStoreSpec } from './datastore.ts';
import {
  DATASTORE_IDENTIFIER,
  DEFAULT_API_PORT,
  type DeploymentSpec,
  type NetworkProfile,
  type TenantControlPlaneSpec,
} from './tenant-control-plane.ts';

export interface FieldProblem {
  /** Path of the offending field, e.g. `spec.kubernetes.version`. */
  field: string;
  message: string;
}

/** Kubernetes minors a tenant can run: v1.33 to v1.37. */
export const SUPPORTED_MINORS = { major: 1, oldest: 33, newest: 37 } as const;

/** Containers Kamaji puts in the control-plane pod; an additional container cannot take their names. */
export const MANAGED_CONTAINER_NAMES = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'konnectivity-server',
  'kine',
] as const;

/** Problems as one line, the form conditions, events and admission responses show them in. */
export function describeProblems(problems: readonly FieldProblem[]): string {
  return problems.map((problem) => `${problem.field}: ${problem.message}`).join('; ');
}

export interface ValidationContext {
  /** The version the control plane runs now (status.kubernetesResources.version.version), to check upgrades. */
  installedVersion?: string;
}

export function validateTenantControlPlaneSpec(
  spec: TenantControlPlaneSpec,
  context: ValidationContext = {},
): FieldProblem[] {
  return [
    ...identityProblems(spec),
    ...versionProblems(spec.kubernetes.version, context.installedVersion),
    ...duplicates(spec.kubernetes.kubelet.preferredAddressTypes ?? [], 'spec.kubernetes.kubelet.preferredAddressTypes'),
    ...networkProblems(spec.networkProfile ?? {}),
    ...deploymentProblems(spec.controlPlane.deployment ?? {}),
    ...konnectivityProblems(spec),
  ];
}

/**
 * Ports taken in the control-plane pod besides the API server's: konnectivity-server's admin and health ports, the
 * controller-manager's and the scheduler's.
 */
const POD_PORTS = [8133, 8134, 10257, 10259];
const NODE_PORT_RANGE = { min: 30000, max: 32767 };

/**
 * The agents' port of konnectivity-server: free in the pod, and (as upstream makes it the node port of a NodePort
 * Service, where agents dial it) inside the node-port range.
 */
function konnectivityProblems(spec: TenantControlPlaneSpec): FieldProblem[] {
  const port = spec.addons?.konnectivity?.server?.port;
  if (port === undefined) return [];
  const field = 'spec.addons.konnectivity.server.port';
  const apiPort = spec.networkProfile?.port ?? DEFAULT_API_PORT;
  if (port === apiPort || POD_PORTS.includes(port)) {
    const taken = port === apiPort ? 'the API server port (networkProfile.port)' : 'taken in the control-plane pod';
    return [{ field, message: `${port} is ${taken}; choose another port for the agents, e.g. 8132` }];
  }
  if (
    spec.controlPlane.service.serviceType === 'NodePort' &&
    (port < NODE_PORT_RANGE.min || port > NODE_PORT_RANGE.max)
  ) {
    return [
      {
        field,
        message: `with a NodePort Service, ${port} is also the node port agents dial; choose one in ${NODE_PORT_RANGE.min}-${NODE_PORT_RANGE.max}`,
      },
    ];
  }
  return [];
}

/** User names every datastore backend keeps for itself (etcd's superuser; PostgreSQL's and MySQL's too). */
export const RESERVED_DATASTORE_USERS = ['root', 'postgres', 'mysql', 'mariadb.sys'] as const;

const IDENTIFIER = new RegExp(DATASTORE_IDENTIFIER.pattern);

/**
 * The tenant's datastore identity, also for objects stored before the CRD enforced its pattern: a plain
 * identifier (no `/`, so no range inside another tenant's) and no name the backend reserves.
 */
function identityProblems(spec: TenantControlPlaneSpec): FieldProblem[] {
  const fields = [
    ['spec.dataStoreSchema', spec.dataStoreSchema],
    ['spec.dataStoreUsername', spec.dataStoreUsername],
  ] as const;
  return fields.flatMap(([field, value]): FieldProblem[] => {
    if (value === undefined) return [];
    if (!IDENTIFIER.test(value) || value.length > DATASTORE_IDENTIFIER.maxLength) {
      return [
        {
          field,
          message: `"${value}" is not a datastore identifier: use 1 to ${DATASTORE_IDENTIFIER.maxLength} lower-case letters, digits and underscores, or leave it unset to derive it from the TCP's UID`,
        },
      ];
    }
    if (field === 'spec.dataStoreUsername' && (RESERVED_DATASTORE_USERS as readonly string[]).includes(value)) {
      return [{ field, message: `"${value}" is reserved by the datastore: choose another name or leave it unset` }];
    }
    return [];
  });
}

/** Semantic checks of a DataStore: each endpoint is `host:port`, the form every consumer adds its scheme to. */
export function validateDataStoreSpec(spec: DataStoreSpec): FieldProblem[] {
  return spec.endpoints.flatMap((endpoint, index) => {
    const problem = endpointProblem(endpoint);
    return problem ? [{ field: `spec.endpoints[${index}]`, message: problem }] : [];
  });
}

/** What is wrong with an endpoint, and how to write it; undefined when it is a valid `host:port`. */
function endpointProblem(endpoint: string): string | undefined {
  const example = 'e.g. etcd-0.etcd.kamaji-system.svc:2379';
  const parsed = parseEndpoint(endpoint);
  if (!parsed) return `"${endpoint}" is not host:port; write it as host:port (IPv6 as [address]:port), ${example}`;
  const hostPort = `${parsed.host}:${parsed.port ?? 2379}`;
  if (parsed.scheme) {
    return `"${endpoint}" has a URL scheme; write it as host:port without "${parsed.scheme}://" (Kamaji adds it): ${hostPort}`;
  }
  if (parsed.port === undefined) return `"${endpoint}" has no port; write it as host:port, e.g. ${hostPort}`;
  if (parsed.port < 1 || parsed.port > 65535) {
    return `"${endpoint}": port ${parsed.port} is out of range; use a port from 1 to 65535`;
  }
  return undefined;
}

interface Version {
  major: number;
  minor: number;
}

function parseVersion(text: string): Version | undefined {
  const match = /^v(\d+)\.(\d+)\.(\d+)$/.exec(text);
  return match ? { major: Number(match[1]), minor: Number(match[2]) } : undefined;
}

const minorName = ({ major, minor }: Version) => `v${major}.${minor}`;

function versionProblems(desired: string, installed: string | undefined): FieldProblem[] {
  const field = 'spec.kubernetes.version';
  const version = parseVersion(desired);
  if (!version) return [{ field, message: `"${desired}" is not a version of the form vX.Y.Z, e.g. v1.35.4` }];
  const { major, oldest, newest } = SUPPORTED_MINORS;
  if (version.major !== major || version.minor < oldest || version.minor > newest) {
    const range = `${minorName({ major, minor: oldest })} to ${minorName({ major, minor: newest })}`;
    return [{ field, message: `${desired} is not supported: Kamaji runs ${range}` }];
  }
  const current = installed === undefined ? undefined : parseVersion(installed);
  // Patch releases may go either way; minors only up, one at a time, as kubeadm upgrades them.
  if (!current || current.major !== version.major) return [];
  if (version.minor < current.minor) {
    return [{ field, message: `cannot downgrade from ${minorName(current)} to ${minorName(version)}` }];
  }
  if (version.minor > current.minor + 1) {
    const next = minorName({ major: current.major, minor: current.minor + 1 });
    return [{ field, message: `upgrade one minor at a time: from ${minorName(current)} the next is ${next}` }];
  }
  return [];
}

function networkProblems(network: NetworkProfile): FieldProblem[] {
  const field = (name: string) => `spec.networkProfile.${name}`;
  const problems: FieldProblem[] = [];
  if (network.advertiseAddress && !isIP(network.advertiseAddress)) {
    problems.push({
      field: field('advertiseAddress'),
      message: `"${network.advertiseAddress}" is not an IP address (a hostname belongs in certSANs)`,
    });
  }
  const cidrLists = {
    serviceCidr: network.serviceCidr ? [network.serviceCidr] : [],
    podCidr: network.podCidr ? [network.podCidr] : [],
    serviceCidrs: network.serviceCidrs ?? [],
    podCidrs: network.podCidrs ?? [],
    loadBalancerSourceRanges: network.loadBalancerSourceRanges ?? [],
  };
  for (const [name, cidrs] of Object.entries(cidrLists)) {
    cidrs.forEach((cidr, index) => {
      if (!parseCidr(cidr)) {
        const path = name.endsWith('s') ? field(`${name}[${index}]`) : field(name);
        problems.push({ field: path, message: `"${cidr}" is not a CIDR such as 10.96.0.0/16` });
      }
    });
  }
  for (const name of ['serviceCidrs', 'podCidrs'] as const) {
    const families = cidrLists[name].map((cidr) => parseCidr(cidr)?.family);
    if (families.length === 2 && families[0] !== undefined && families[0] === families[1]) {
      problems.push({
        field: field(name),
        message: `both entries are IPv${families[0]}: a dual-stack cluster needs one IPv4 and one IPv6 CIDR`,
      });
    }
  }
  const serviceCidrs = (network.serviceCidrs ?? cidrLists.serviceCidr).flatMap((cidr) => parseCidr(cidr) ?? []);
  (network.dnsServiceIPs ?? []).forEach((address, index) => {
    const path = field(`dnsServiceIPs[${index}]`);
    const ip = parseIp(address);
    if (!ip) problems.push({ field: path, message: `"${address}" is not an IP address` });
    else if (!serviceCidrs.some((cidr) => cidrContains(cidr, ip))) {
      problems.push({ field: path, message: `${address} is outside the service CIDRs` });
    }
  });
  return problems;
}

function deploymentProblems(deployment: DeploymentSpec): FieldProblem[] {
  const prefix = 'spec.controlPlane.deployment';
  const problems: FieldProblem[] = [];
  for (const [component, mounts] of Object.entries(deployment.additionalVolumeMounts ?? {})) {
    const paths = (mounts ?? []).map((mount) => mount.mountPath);
    problems.push(...duplicates(paths, `${prefix}.additionalVolumeMounts.${component}`, '.mountPath'));
  }
  const containers = (list: 'additionalInitContainers' | 'additionalContainers') =>
    (deployment[list] ?? []).map(({ name }, index) => ({ name, at: `${list}[${index}]` }));
  const seen = new Map<string, string>();
  for (const { name, at } of [...containers('additionalInitContainers'), ...containers('additionalContainers')]) {
    const field = `${prefix}.${at}.name`;
    const earlier = seen.get(name);
    if ((MANAGED_CONTAINER_NAMES as readonly string[]).includes(name)) {
      problems.push({ field, message: `"${name}" is a container Kamaji manages; choose another name` });
    } else if (earlier) {
      problems.push({ field, message: `"${name}" is already the name of ${earlier}` });
    }
    seen.set(name, at);
  }
  return problems;
}

/** One problem per repeated value, pointing at the repeat (`<list>[i]<suffix>`). */
function duplicates(values: readonly string[], list: string, suffix = ''): FieldProblem[] {
  return values.flatMap((value, index) => {
    const first = values.indexOf(value);
    return first === index
      ? []
      : [{ field: `${list}[${index}]${suffix}`, message: `"${value}" repeats ${list}[${first}]` }];
  });
}
