import { runCommand } from './command.ts';
import { POD_BRIDGE } from './containerd.ts';
import { netnsPath } from './node-box.ts';
import { type StateLayout, workerRange } from './state.ts';

/**
 * The pod network of a tenant's workers, "host-gw" style: every worker box sits on the admin node's bridge (one L2
 * segment), so a route per worker to each other worker's pod subnet is all pods need to reach each other; traffic
 * from pods to anything outside the tenant's pod range (the tenant's API server on the admin node) leaves
 * masqueraded as the worker. No CNI image, no overlay, nothing that routes off the host. See docs/workers.md.
 */

/** One worker as its peers see it. */
export interface PodRoutePeer {
  name: string;
  address: string;
  podCidr?: string;
}

/** The routes `self` needs: each other worker's pod subnet via that worker's address. */
export function podRoutes(self: string, peers: readonly PodRoutePeer[]): { cidr: string; via: string }[] {
  return peers
    .filter((peer) => peer.name !== self && peer.podCidr)
    .map((peer) => ({ cidr: peer.podCidr ?? '', via: peer.address }));
}

/** The iptables rules of a worker's namespace, as argument lists after the table (`-t nat`) and chain. */
export function workerMasquerade(clusterPodCidrs: readonly string[]): string[][] {
  // Pods keep their addresses among themselves; anything else sees the worker's address, so replies come back
  // here rather than into the admin node's own pod network (which uses the same default range).
  return clusterPodCidrs.map((cidr) => [
    '-s',
    cidr,
    ...clusterPodCidrs.flatMap((other) => ['!', '-d', other]),
    '-m',
    'comment',
    '--comment',
    'kamaji: pods leave masqueraded',
    '-j',
    'MASQUERADE',
  ]);
}

function inNetns(layout: StateLayout, command: string, args: readonly string[], allowFailure = false) {
  return runCommand('nsenter', [`--net=${netnsPath(layout)}`, command, ...args], { allowFailure });
}

/** Appends a rule unless it is there (`-C` first): running it twice changes nothing. */
async function ensureRule(layout: StateLayout, table: string, chain: string, rule: readonly string[]) {
  const present = await inNetns(layout, 'iptables', ['-t', table, '-C', chain, ...rule], true);
  if (present.code !== 0) await inNetns(layout, 'iptables', ['-t', table, '-A', chain, ...rule]);
}

/**
 * The Service range routed onto a node's link (the namespace has no default route), so that host-network processes
 * can open connections to Service addresses, which kube-proxy then rewrites: a worker's, and the admin node's API
 * server calling the webhook Service.
 */
export async function routeServiceRange(layout: StateLayout): Promise<void> {
  for (const cidr of layout.network.serviceSubnet.split(',')) {
    await inNetns(layout, 'ip', ['route', 'replace', cidr, 'dev', layout.names.nodeBridge]);
  }
}

/** A worker's own settings: the Service range routed, pods masqueraded when they leave the tenant's pod range. */
export async function ensureWorkerNetwork(layout: StateLayout, clusterPodCidrs: readonly string[]): Promise<void> {
  await routeServiceRange(layout);
  for (const rule of workerMasquerade(clusterPodCidrs)) await ensureRule(layout, 'nat', 'POSTROUTING', rule);
}

/** Makes a worker's routes to its peers' pod subnets exactly `routes` (stale ones of removed workers go). */
export async function syncPodRoutes(layout: StateLayout, routes: readonly { cidr: string; via: string }[]) {
  const wanted = new Set(routes.map((route) => route.cidr));
  const listing = await inNetns(layout, 'ip', ['-4', 'route', 'show', 'proto', 'static']);
  for (const line of listing.stdout.split('\n')) {
    const [cidr, via] = line.split(/\s+/);
    if (cidr && via === 'via' && !wanted.has(cidr)) await inNetns(layout, 'ip', ['route', 'delete', cidr], true);
  }
  for (const { cidr, via } of routes) {
    await inNetns(layout, 'ip', ['route', 'replace', cidr, 'via', via, 'proto', 'static']);
  }
}

/**
 * The admin cluster's pods may not open connections to workers, as on a real provider, where the control plane
 * cannot route to customers' machines: a tenant's API server reaches its kubelets through konnectivity only. The
 * rule goes into every admin node's namespace (`node`: the first admin node unless another is given), since each
 * forwards its own pods' traffic.
 */
export async function isolateWorkersFromAdminPods(admin: StateLayout, node: StateLayout = admin): Promise<void> {
  await ensureRule(node, 'filter', 'FORWARD', [
    '-i',
    POD_BRIDGE,
    '-s',
    admin.network.podSubnet,
    '-d',
    workerRange(admin),
    '-m',
    'conntrack',
    '--ctstate',
    'NEW',
    '-m',
    'comment',
    '--comment',
    'kamaji: admin pods do not dial workers',
    '-j',
    'REJECT',
  ]);
}
