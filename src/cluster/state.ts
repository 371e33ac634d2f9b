import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';

/** Where `kamaji up` keeps an admin cluster unless told otherwise (`--state-dir`). */
export const DEFAULT_STATE_DIR = '/var/lib/kamaji';

/**
 * Host paths that kubeadm, the kubelet and containerd hard-code. Inside the node box each is a private bind mount
 * of a directory in the state dir, so two instances (and the host) never share them.
 */
export const BOX_MOUNT_TARGETS = [
  '/etc/kubernetes',
  '/var/lib/kubelet',
  '/var/lib/etcd',
  '/var/lib/cni',
  '/run/containerd',
  '/var/log/pods',
  '/var/log/containers',
  // The kubelet's (and kubeadm's controller-manager's) FlexVolume plugin directory.
  '/usr/libexec/kubernetes',
] as const;

export type BoxMountTarget = (typeof BOX_MOUNT_TARGETS)[number];

export interface BoxMount {
  /** A directory in the state dir. */
  source: string;
  /** The fixed path it is mounted over inside the node box. */
  target: BoxMountTarget;
}

/**
 * The node's addresses. The node subnet is shared with the host over a veth pair (so the host reaches the API
 * server and node ports); pod and Service ranges stay inside the namespace, which has no route to anywhere else.
 */
export interface NodeNetwork {
  /** The node's InternalIP, carried by the bridge (`dummy` links are missing from this kernel). */
  nodeAddress: string;
  /** The host's end of the link to the node. */
  hostAddress: string;
  prefixLength: number;
  podSubnet: string;
  /**
   * This node's share of `podSubnet`, which its CNI hands out (the range the controller-manager allocated to its
   * Node); absent when the node's pods take addresses from all of `podSubnet`.
   */
  nodePodSubnet?: string;
  serviceSubnet: string;
}

/** Everything of one admin-cluster instance, all derived from its state dir. */
export interface StateLayout {
  root: string;
  /** Short hash of the state dir: names that live outside it (netns, link, cgroup) carry it. */
  id: string;
  names: {
    netns: string;
    /** The bridge holding the node address, inside the netns. */
    nodeBridge: string;
    /** The veth pair between the host (`hostLink`, in the host's namespace) and the node bridge. */
    hostLink: string;
    nodeLink: string;
    /** kubelet `cgroupRoot`: kubepods lives below it in every cgroup v1 hierarchy. */
    cgroupRoot: string;
    nodeName: string;
  };
  network: NodeNetwork;
  dirs: {
    config: string;
    logs: string;
    /** Pid files of the node processes, so that `down` from another process can stop them. */
    pids: string;
    images: string;
    containerdRoot: string;
    containerdState: string;
    /** containerd's pod network namespaces (`cni-*`), kept under its state dir rather than /run/netns. */
    podNetns: string;
    cniConfig: string;
    cniIpam: string;
  };
  files: {
    containerdConfig: string;
    containerdSocket: string;
    cniConflist: string;
    kubeadmConfig: string;
    kubeProxyConfig: string;
    kubeProxyKubeconfig: string;
    /** The host's kernel settings from before the kubelet changed them, for `down` to put back. */
    hostSysctls: string;
  };
  boxMounts: readonly BoxMount[];
  /**
   * Set for a worker box: the far end of its veth pair joins the admin node's bridge (in the admin netns) instead
   * of the host, so the admin node, the host and every worker of an instance share one node subnet.
   */
  uplink?: { netns: string; bridge: string };
}

/** The instance id: the first 8 hex digits of SHA-256 over the absolute state dir path. */
export function instanceId(stateDir: string): string {
  return createHash('sha256').update(resolve(stateDir)).digest('hex').slice(0, 8);
}

export function stateLayout(stateDir: string): StateLayout {
  const root = resolve(stateDir);
  const id = instanceId(root);
  const dir = (...parts: string[]): string => join(root, ...parts);
  const boxRoot = dir('box');
  return {
    root,
    id,
    // Link names are at most 15 bytes.
    names: {
      netns: `kamaji-${id}`,
      nodeBridge: `kmj-${id}`,
      hostLink: `kmjh-${id}`,
      nodeLink: `kmjn-${id}`,
      cgroupRoot: `/kamaji-${id}`,
      nodeName: 'kamaji-admin',
    },
    network: nodeNetwork(id),
    dirs: {
      config: dir('config'),
      logs: dir('logs'),
      pids: dir('pids'),
      images: dir('images'),
      containerdRoot: dir('containerd', 'root'),
      containerdState: dir('containerd', 'state'),
      podNetns: dir('containerd', 'state', 'io.containerd.grpc.v1.cri', 'netns'),
      cniConfig: dir('cni', 'net.d'),
      cniIpam: dir('cni', 'ipam'),
    },
    files: {
      containerdConfig: dir('config', 'containerd.toml'),
      containerdSocket: dir('containerd', 'containerd.sock'),
      cniConflist: dir('cni', 'net.d', '10-kamaji.conflist'),
      kubeadmConfig: dir('config', 'kubeadm.yaml'),
      kubeProxyConfig: dir('config', 'kube-proxy.yaml'),
      kubeProxyKubeconfig: dir('config', 'kube-proxy.kubeconfig'),
      hostSysctls: dir('config', 'host-sysctls.json'),
    },
    // box/etc/kubernetes, box/var/lib/kubelet, ...: the state dir mirrors the paths it stands in for.
    boxMounts: BOX_MOUNT_TARGETS.map((target) => ({ source: join(boxRoot, target), target })),
  };
}

/** The state-dir directory mounted over `target` in the box: where the host reads what the node wrote there. */
export function boxPath(layout: StateLayout, target: BoxMountTarget, ...rest: string[]): string {
  const mount = layout.boxMounts.find((candidate) => candidate.target === target);
  if (!mount) throw new Error(`${target} is not mounted in the node box`);
  return join(mount.source, ...rest);
}

export function pidFile(layout: StateLayout, processName: string): string {
  return join(layout.dirs.pids, `${processName}.pid`);
}

export function logFile(layout: StateLayout, processName: string): string {
  return join(layout.dirs.logs, `${processName}.log`);
}

/**
 * The node subnet is one /24 of 172.30.0.0/16 picked by the instance id, so that the host routes to several
 * instances at once; pod and Service ranges are kubeadm's defaults.
 */
export function nodeNetwork(id: string): NodeNetwork {
  const third = Number.parseInt(id.slice(0, 2), 16);
  return {
    nodeAddress: `172.30.${third}.2`,
    hostAddress: `172.30.${third}.1`,
    prefixLength: 24,
    podSubnet: '10.244.0.0/16',
    // What the controller-manager allocates the first Node: the admin node's pods keep to it, so that the other
    // admin nodes' ranges (10.244.1.0/24, ...) are reached through a route, not looked for on the local bridge.
    nodePodSubnet: '10.244.0.0/24',
    serviceSubnet: '10.96.0.0/12',
  };
}

/** Where the workers of an instance live: one directory each, named after the worker (its Node name). */
export function workersDir(admin: StateLayout): string {
  return join(admin.root, 'workers');
}

/** Workers take node addresses from .64 up: `.64/26` of the node subnet is theirs (64 at most per instance). */
export const WORKER_ADDRESS_BASE = 64;
export const MAX_WORKERS = 64;

/** The node subnet's part that only workers use, as a CIDR (the admin cluster's pods may not open connections to it). */
export function workerRange(admin: StateLayout): string {
  return `${nodeSubnetPrefix(admin)}.${WORKER_ADDRESS_BASE}/26`;
}

/** The node subnet's first three octets: `172.30.<n>`. */
function nodeSubnetPrefix(admin: StateLayout): string {
  return admin.network.nodeAddress.split('.').slice(0, 3).join('.');
}

/**
 * A box joined to the admin node's bridge (a worker or another admin node): a layout of its own under `dir`
 * (netns, cgroup root, containerd, kubelet dirs), the given address in the node subnet, an uplink to the bridge.
 */
function boxOnAdminBridge(
  admin: StateLayout,
  box: { dir: string; name: string; address: string; serviceCidr: string; podCidr?: string },
): StateLayout {
  const layout = stateLayout(box.dir);
  return {
    ...layout,
    names: { ...layout.names, nodeName: box.name },
    network: {
      nodeAddress: box.address,
      hostAddress: admin.network.hostAddress,
      prefixLength: admin.network.prefixLength,
      // Empty until the controller-manager allocates the Node its range: no pod starts before that.
      podSubnet: box.podCidr ?? '',
      serviceSubnet: box.serviceCidr,
    },
    uplink: { netns: admin.names.netns, bridge: admin.names.nodeBridge },
  };
}

/**
 * A worker's box: a layout of its own (netns, cgroup root, containerd, kubelet dirs under workers/<name>), an address
 * in the admin node's subnet, and an uplink to the admin node's bridge. Its pod subnet is the one the tenant's
 * controller-manager allocates to the Node, learnt after the join.
 */
export function workerLayout(
  admin: StateLayout,
  worker: { name: string; index: number; serviceCidr: string; podCidr?: string },
): StateLayout {
  const { name, index } = worker;
  if (!Number.isInteger(index) || index < 0 || index >= MAX_WORKERS) {
    throw new Error(`worker index ${index} is outside 0..${MAX_WORKERS - 1}`);
  }
  return boxOnAdminBridge(admin, {
    dir: join(workersDir(admin), name),
    name,
    address: `${nodeSubnetPrefix(admin)}.${WORKER_ADDRESS_BASE + index}`,
    serviceCidr: worker.serviceCidr,
    podCidr: worker.podCidr,
  });
}

/** Where the other nodes of the admin cluster live (`kamaji node add`): one directory each, named after the Node. */
export function adminNodesDir(admin: StateLayout): string {
  return join(admin.root, 'admin-nodes');
}

/**
 * Other admin nodes take .3 up to .63: below the workers' range, so the REJECT rule toward workers never
 * catches them, and above the host (.1) and the first admin node (.2).
 */
export const ADMIN_NODE_ADDRESS_BASE = 3;
export const MAX_ADMIN_NODES = WORKER_ADDRESS_BASE - ADMIN_NODE_ADDRESS_BASE;

/**
 * Another admin node's box: like a worker's (on the admin node's bridge) but a node of the admin cluster itself, with
 * the admin cluster's Service range; its pod subnet is the one the admin controller-manager allocates to its Node.
 */
export function adminNodeLayout(
  admin: StateLayout,
  node: { name: string; index: number; podCidr?: string },
): StateLayout {
  const { name, index } = node;
  if (!Number.isInteger(index) || index < 0 || index >= MAX_ADMIN_NODES) {
    throw new Error(`admin node index ${index} is outside 0..${MAX_ADMIN_NODES - 1}`);
  }
  return boxOnAdminBridge(admin, {
    dir: join(adminNodesDir(admin), name),
    name,
    address: `${nodeSubnetPrefix(admin)}.${ADMIN_NODE_ADDRESS_BASE + index}`,
    serviceCidr: admin.network.serviceSubnet,
    podCidr: node.podCidr,
  });
}
