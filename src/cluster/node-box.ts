import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ProcessSpec, Supervisor } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';
import { runCommand } from './command.ts';
import { processesMentioning, recordedPid, recordProcess, stopPid, stopRecordedProcess } from './pid-files.ts';
import { logFile, type StateLayout } from './state.ts';

/**
 * The node box: a network namespace of its own, linked to the host by one veth pair and routed nowhere else (so
 * nothing the cluster does leaves the machine), and a private mount namespace whose bind mounts give the node its
 * own /etc/kubernetes, /var/lib/kubelet, /run/containerd, ... The mount namespace lives as long as a small holder
 * process; every node process enters both namespaces.
 */
export interface NodeBox {
  layout: StateLayout;
  /** The process that holds the mount namespace open. */
  holderPid: number;
}

const HOLDER = 'mount-holder';

export function netnsPath(layout: StateLayout): string {
  return `/var/run/netns/${layout.names.netns}`;
}

/**
 * The command line that runs `command` inside the box. `nsenter --net` and never `ip netns exec`: the latter
 * remounts /sys, the cgroup mounts vanish, and kubelet and runc fail to find them.
 */
export function boxCommand(
  box: NodeBox,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  return {
    command: 'nsenter',
    args: [`--net=${netnsPath(box.layout)}`, `--mount=/proc/${box.holderPid}/ns/mnt`, '--', command, ...args],
  };
}

/** Runs a short command inside the box. */
export function runInBox(box: NodeBox, command: string, args: readonly string[], input?: string | Buffer) {
  const boxed = boxCommand(box, command, args);
  return runCommand(boxed.command, boxed.args, { input });
}

/** Starts a long-running node process inside the box, supervised, with a pid file for `down` from elsewhere. */
export async function startInBox(
  box: NodeBox,
  supervisor: Supervisor,
  spec: Omit<ProcessSpec, 'logFile'>,
): Promise<ReturnType<Supervisor['start']>> {
  const boxed = boxCommand(box, spec.command, spec.args);
  const started = supervisor.start({ ...spec, ...boxed, logFile: logFile(box.layout, spec.name) });
  await recordProcess(box.layout, spec.name, started.pid);
  return started;
}

/** Creates whatever of the box is missing; running it on a complete box changes nothing. */
export async function ensureNodeBox(layout: StateLayout, supervisor: Supervisor): Promise<NodeBox> {
  const dirs = [...Object.values(layout.dirs), ...layout.boxMounts.flatMap((mount) => [mount.source, mount.target])];
  await Promise.all(dirs.map((dir) => mkdir(dir, { recursive: true })));
  await ensureNetwork(layout);
  await ensureCgroupRoot(layout);
  const box = { layout, holderPid: await ensureHolder(layout, supervisor) };
  const mounted = new Set(mountPoints(readFileSync(`/proc/${box.holderPid}/mountinfo`, 'utf8')));
  for (const mount of layout.boxMounts) {
    if (!mounted.has(mount.target)) await runInBox(box, 'mount', ['--bind', mount.source, mount.target]);
  }
  return box;
}

/** The box as left by an earlier `up`, if its holder still runs. */
export async function existingNodeBox(layout: StateLayout): Promise<NodeBox | undefined> {
  const holderPid = await recordedPid(layout, HOLDER);
  return holderPid === undefined ? undefined : { layout, holderPid };
}

/**
 * The node bridge's own MAC address, fixed (locally administered, from the instance id). A bridge without one takes
 * the lowest of its ports' addresses, so a worker's or an admin node's link joining or leaving the admin bridge could
 * change it: the host's ARP entry for the node address then pointed at a MAC nobody had, and the admin API server was
 * unreachable from the host for ~30 s after a `kamaji node remove` (test/e2e/admin-nodes.test.ts).
 */
export function bridgeMac(id: string): string {
  const bytes = id.slice(0, 8).match(/../g) ?? [];
  return ['02', '6b', ...bytes].join(':');
}

async function ensureNetwork(layout: StateLayout): Promise<void> {
  const { netns, nodeBridge, hostLink, nodeLink } = layout.names;
  const { nodeAddress, hostAddress, prefixLength } = layout.network;
  if (!existsSync(netnsPath(layout))) await runCommand('ip', ['netns', 'add', netns]);
  const host = (...args: string[]) => runCommand('ip', args);
  const node = (...args: string[]) => runCommand('ip', ['-n', netns, ...args]);
  const missing = async (...args: string[]) => (await runCommand('ip', args, { allowFailure: true })).code !== 0;
  await node('link', 'set', 'lo', 'up');
  if (await missing('-n', netns, 'link', 'show', nodeBridge)) await node('link', 'add', nodeBridge, 'type', 'bridge');
  await node('link', 'set', nodeBridge, 'address', bridgeMac(layout.id));
  await node('addr', 'replace', `${nodeAddress}/${prefixLength}`, 'dev', nodeBridge);
  await node('link', 'set', nodeBridge, 'up');
  if (layout.uplink) {
    await ensureUplink(layout, layout.uplink);
  } else {
    const holders = addressHolders((await host('-o', '-4', 'addr', 'show')).stdout, hostAddress);
    const other = holders.find((link) => link !== hostLink);
    if (other) throw new Error(`${hostAddress} is already on ${other} (another instance whose id starts alike?)`);
    if (await missing('link', 'show', hostLink)) {
      await host('link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nodeLink, 'netns', netns);
    }
    await node('link', 'set', nodeLink, 'master', nodeBridge, 'up');
    await host('addr', 'replace', `${hostAddress}/${prefixLength}`, 'dev', hostLink);
    await host('link', 'set', hostLink, 'up');
  }
  // Per-namespace settings: Service traffic is forwarded, and bridged pod traffic passes kube-proxy's rules.
  await runCommand('nsenter', [
    `--net=${netnsPath(layout)}`,
    'sysctl',
    '-q',
    '-w',
    'net.ipv4.ip_forward=1',
    'net.bridge.bridge-nf-call-iptables=1',
  ]);
}

/**
 * A worker's link: one veth pair from its namespace to the admin node's bridge, so it shares the node subnet with
 * the admin node, the host and the other workers, and still routes nowhere else.
 */
async function ensureUplink(layout: StateLayout, uplink: { netns: string; bridge: string }): Promise<void> {
  const { netns, nodeBridge, hostLink, nodeLink } = layout.names;
  const inUplink = (...args: string[]) => runCommand('ip', ['-n', uplink.netns, ...args]);
  const present =
    (await runCommand('ip', ['-n', uplink.netns, 'link', 'show', hostLink], { allowFailure: true })).code === 0;
  if (!present) {
    // Made in the host namespace, then each end moved where it belongs.
    await runCommand('ip', ['link', 'delete', hostLink], { allowFailure: true });
    await runCommand('ip', ['link', 'add', hostLink, 'type', 'veth', 'peer', 'name', nodeLink, 'netns', netns]);
    await runCommand('ip', ['link', 'set', hostLink, 'netns', uplink.netns]);
  }
  await inUplink('link', 'set', hostLink, 'master', uplink.bridge, 'up');
  await runCommand('ip', ['-n', netns, 'link', 'set', nodeLink, 'master', nodeBridge, 'up']);
}

/** The links that carry `address`, from `ip -o -4 addr show` ("2: eth0    inet 10.0.0.2/24 ..."). */
export function addressHolders(ipAddrShow: string, address: string): string[] {
  return ipAddrShow
    .split('\n')
    .map((line) => /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//.exec(line))
    .filter((match) => match?.[2] === address)
    .map((match) => (match?.[1] ?? '').replace(/@.*$/, ''));
}

async function ensureHolder(layout: StateLayout, supervisor: Supervisor): Promise<number> {
  const running = await recordedPid(layout, HOLDER);
  if (running !== undefined) return running;
  const holder = supervisor.start({
    name: HOLDER,
    command: 'unshare',
    args: ['--mount', '--propagation', 'private', '--', 'sleep', 'infinity'],
    logFile: logFile(layout, HOLDER),
  });
  // The pid exists before unshare has run; mounting earlier would land in the host's namespace. Once it runs
  // `sleep`, unshare and the propagation change are done.
  await waitFor(async () => readText(`/proc/${holder.pid}/comm`).trim() === 'sleep' || undefined, {
    timeoutMs: 10_000,
    intervalMs: 20,
    description: 'the mount namespace holder to unshare',
  });
  await recordProcess(layout, HOLDER, holder.pid);
  // The new namespace starts with copies of every network namespace mount of the host (other instances' among
  // them); a copy keeps its namespace alive after `ip netns delete`, so the box must not hold any.
  const box = { layout, holderPid: holder.pid };
  const copies = parseMountInfo(readText(`/proc/${holder.pid}/mountinfo`))
    .filter((mount) => mount.fsType === 'nsfs')
    .map((mount) => mount.point);
  for (const point of mountsToUnmount(copies, ['/'])) await unmount(point, box);
  return holder.pid;
}

/**
 * Every cgroup hierarchy mounted on this machine (cgroup v1 controllers, the named systemd one and the unified
 * one): the kubelet with the cgroupfs driver creates its tree in each.
 */
export function cgroupMountPoints(mountinfo: string): string[] {
  return parseMountInfo(mountinfo)
    .filter((mount) => mount.fsType === 'cgroup' || mount.fsType === 'cgroup2')
    .map((mount) => mount.point);
}

/** The mounts listed in a /proc/<pid>/mountinfo, in mount order. */
export function parseMountInfo(mountinfo: string): { point: string; fsType: string }[] {
  const mounts: { point: string; fsType: string }[] = [];
  for (const line of mountinfo.split('\n')) {
    // "<id> <parent> <dev> <root> <mount point> <options> [optional fields] - <fs type> <source> <super options>"
    const [before, after] = line.split(' - ');
    const point = before?.split(' ')[4];
    const fsType = after?.split(' ')[0];
    if (point && fsType) mounts.push({ point: unescapeMountPath(point), fsType });
  }
  return mounts;
}

/** The kubelet refuses a `cgroupRoot` missing from any hierarchy; a new cpuset cgroup starts with no CPUs. */
async function ensureCgroupRoot(layout: StateLayout): Promise<void> {
  for (const hierarchy of cgroupMountPoints(readFileSync('/proc/self/mountinfo', 'utf8'))) {
    const dir = join(hierarchy, layout.names.cgroupRoot);
    await mkdir(dir, { recursive: true });
    for (const setting of ['cpuset.cpus', 'cpuset.mems']) {
      const parentValue = await readFile(join(hierarchy, setting), 'utf8').catch(() => undefined);
      if (parentValue !== undefined && (await readFile(join(dir, setting), 'utf8')).trim() === '') {
        await copyFile(join(hierarchy, setting), join(dir, setting));
      }
    }
  }
}

export function mountPoints(mountinfo: string): string[] {
  return parseMountInfo(mountinfo).map((mount) => mount.point);
}

/** The mount points at or below any of `roots`, deepest first (and, at one depth, the latest mount first). */
export function mountsToUnmount(points: readonly string[], roots: readonly string[]): string[] {
  const inside = (point: string) =>
    roots.some((root) => point === root || point.startsWith(root.endsWith('/') ? root : `${root}/`));
  return points
    .map((point, order) => ({ point, order }))
    .filter(({ point }) => inside(point))
    .sort((a, b) => depth(b.point) - depth(a.point) || b.order - a.order)
    .map(({ point }) => point);
}

function depth(path: string): number {
  return path.split('/').length;
}

/** mountinfo escapes space, tab, newline and backslash as octal. */
function unescapeMountPath(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)));
}

/**
 * Pids of every process of this instance: those in its network or mount namespace (node processes, static pods,
 * shims), those in its cgroup tree (every pod) and those naming its containerd socket (shims, should they have
 * left the namespaces).
 */
export function processesOfInstance(layout: StateLayout, holderPid?: number): number[] {
  const netns = namespaceOf(netnsPath(layout));
  const mountNamespace = holderPid === undefined ? undefined : linkOf(`/proc/${holderPid}/ns/mnt`);
  const inCgroups = new Set(pidsInCgroupTree(layout));
  const shims = new Set(processesMentioning(layout.files.containerdSocket));
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    const matches =
      inCgroups.has(pid) ||
      (netns !== undefined && namespaceOf(`/proc/${pid}/ns/net`) === netns) ||
      (mountNamespace !== undefined && linkOf(`/proc/${pid}/ns/mnt`) === mountNamespace) ||
      shims.has(pid);
    if (matches) pids.push(pid);
  }
  return pids;
}

function pidsInCgroupTree(layout: StateLayout): number[] {
  const pids: number[] = [];
  for (const hierarchy of cgroupMountPoints(readText('/proc/self/mountinfo'))) {
    for (const dir of cgroupTree(join(hierarchy, layout.names.cgroupRoot))) {
      for (const line of readText(join(dir, 'cgroup.procs')).split('\n')) if (line) pids.push(Number(line));
    }
  }
  return pids;
}

/** A cgroup directory and all below it, deepest first (the order to remove them in). */
function cgroupTree(dir: string): string[] {
  let children: string[];
  try {
    children = readdirSync(dir, { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => join(dir, entry.name));
  } catch {
    return [];
  }
  return [...children.flatMap(cgroupTree), dir];
}

/** The inode of a namespace file (an nsfs bind mount or /proc/<pid>/ns/*), which identifies the namespace. */
function namespaceOf(path: string): number | undefined {
  try {
    return statSync(path).ino;
  } catch {
    return undefined;
  }
}

function linkOf(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Removes the box: every process of the instance (the caller stops containerd and the kubelet politely first), the
 * mounts deepest first, the holder, the cgroup trees deepest first in every hierarchy, and the network namespace
 * (which takes the bridge, the veth pairs to the host and the pods, and every iptables rule inside with it).
 */
export async function removeNodeBox(layout: StateLayout): Promise<void> {
  const box = await existingNodeBox(layout);
  await killAll(processesOfInstance(layout, box?.holderPid).filter((pid) => pid !== box?.holderPid));
  if (box) {
    const inside = mountPoints(readFileSync(`/proc/${box.holderPid}/mountinfo`, 'utf8'));
    const roots = [...layout.boxMounts.map((mount) => mount.target), layout.root];
    for (const point of mountsToUnmount(inside, roots)) await unmount(point, box);
  }
  await stopRecordedProcess(layout, HOLDER);
  for (const point of mountsToUnmount(mountPoints(readText('/proc/self/mountinfo')), [layout.root])) {
    await unmount(point);
  }
  await removeCgroupTrees(layout);
  // containerd's pod network namespace files (`cni-*`); their mounts went with the box.
  for (const name of await readdir(layout.dirs.podNetns).catch(() => [] as string[])) {
    await rm(join(layout.dirs.podNetns, name), { force: true });
  }
  // The namespace itself is freed asynchronously; deleting the host's end of the link now removes the pair now.
  const linkNamespace = layout.uplink ? ['-n', layout.uplink.netns] : [];
  await runCommand('ip', [...linkNamespace, 'link', 'delete', layout.names.hostLink], { allowFailure: true });
  if (existsSync(netnsPath(layout))) await runCommand('ip', ['netns', 'delete', layout.names.netns]);
}

async function killAll(pids: readonly number[]): Promise<void> {
  await Promise.all(pids.map((pid) => stopPid(pid, 0)));
}

async function unmount(point: string, box?: NodeBox): Promise<void> {
  const attempt = (args: string[]) => (box ? runInBox(box, 'umount', args) : runCommand('umount', args));
  // A lazy unmount is the fallback for a mount something still holds open; it goes once that is closed.
  await attempt([point]).catch(() => attempt(['--lazy', point]));
}

async function removeCgroupTrees(layout: StateLayout): Promise<void> {
  for (const hierarchy of cgroupMountPoints(readText('/proc/self/mountinfo'))) {
    for (const dir of cgroupTree(join(hierarchy, layout.names.cgroupRoot))) await removeCgroup(dir);
  }
}

/** A cgroup whose last process just died stays busy for a moment. */
async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await rmdir(dir);
      return;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || attempt >= 100) throw new Error(`could not remove cgroup ${dir}: ${code}`);
      await sleep(50);
    }
  }
}
