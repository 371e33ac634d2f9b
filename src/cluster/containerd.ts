import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { exitedWithLog, type SupervisedProcess, type Supervisor } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';
import { runCommand } from './command.ts';
import { PAUSE_IMAGE } from './image-references.ts';
import { type NodeBox, startInBox } from './node-box.ts';
import { processesMentioning, recordedPid, stopRecordedProcess } from './pid-files.ts';
import type { StateLayout } from './state.ts';

/** Debian's containernetworking-plugins install here, not in /opt/cni/bin. */
export const CNI_BIN_DIR = '/usr/lib/cni';

/** The bridge the pods of a node hang off. */
export const POD_BRIDGE = 'cni0';
const SOCKET_TIMEOUT_MS = 30_000;
const SHIM_EXIT_TIMEOUT_MS = 10_000;

/** TOML basic strings accept JSON's escapes. */
const quote = (value: string): string => JSON.stringify(value);

/** Registries whose images containerd fetches from one plain-HTTP mirror (the instance's registry). */
export interface ContainerdMirror {
  /** e.g. `http://172.30.5.2:5000`. */
  endpoint: string;
  registries: readonly string[];
}

export interface ContainerdOptions {
  /** Absent: no mirror, every pull goes to the registry named in the reference (which the netns cannot reach). */
  mirror?: ContainerdMirror;
}

/** containerd 1.6 configuration; docs/local-admin-cluster.md gives the reason for each setting. */
export function containerdConfig(layout: StateLayout, options: ContainerdOptions = {}): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  // containerd 1.6's CRI mirror table (config_path, its successor, would need a hosts.toml tree per registry).
  const mirrors = (options.mirror?.registries ?? []).map(
    (registry) => `
[${cri}.registry.mirrors.${quote(registry)}]
  endpoint = [${quote(options.mirror?.endpoint ?? '')}]
`,
  );
  return `version = 2
root = ${quote(layout.dirs.containerdRoot)}
state = ${quote(layout.dirs.containerdState)}

[grpc]
  address = ${quote(layout.files.containerdSocket)}

[plugins."io.containerd.internal.v1.opt"]
  path = ${quote(`${layout.dirs.containerdRoot}/opt`)}

[${cri}]
  sandbox_image = ${quote(PAUSE_IMAGE)}
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false

[${cri}.cni]
  bin_dir = ${quote(CNI_BIN_DIR)}
  conf_dir = ${quote(layout.dirs.cniConfig)}
${mirrors.join('')}`;
}

/** The pod network: a bridge with host-local addresses from the pod subnet, and host ports through portmap. */
export function cniConflist(layout: StateLayout): string {
  const conflist = {
    cniVersion: '1.0.0',
    name: 'kamaji-pods',
    plugins: [
      {
        type: 'bridge',
        bridge: POD_BRIDGE,
        isGateway: true,
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: layout.network.nodePodSubnet ?? layout.network.podSubnet }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: layout.dirs.cniIpam,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
  return `${JSON.stringify(conflist, null, 2)}\n`;
}

/** `ctr` against this instance's containerd; the host reaches its socket without entering the box. */
export function ctrArgs(layout: StateLayout, namespace: string, args: readonly string[]): string[] {
  return ['--address', layout.files.containerdSocket, '--namespace', namespace, ...args];
}

export function ctr(layout: StateLayout, args: readonly string[], namespace = 'k8s.io', input?: Buffer) {
  return runCommand('ctr', ctrArgs(layout, namespace, args), { input });
}

/** Writes the configuration, starts containerd in the box and waits until it answers on its socket. */
export async function startContainerd(
  box: NodeBox,
  supervisor: Supervisor,
  options: ContainerdOptions = {},
): Promise<SupervisedProcess> {
  const { layout } = box;
  await mkdir(dirname(layout.files.containerdConfig), { recursive: true });
  await mkdir(layout.dirs.cniConfig, { recursive: true });
  await writeFile(layout.files.containerdConfig, containerdConfig(layout, options));
  // A worker learns its pod subnet after it joins; its conflist is written then (see worker.ts).
  if (layout.network.podSubnet) await writeFile(layout.files.cniConflist, cniConflist(layout));
  const containerd = await startInBox(box, supervisor, {
    name: 'containerd',
    command: 'containerd',
    args: ['--config', layout.files.containerdConfig],
  });
  await waitFor(() => ctr(layout, ['version']), {
    timeoutMs: SOCKET_TIMEOUT_MS,
    intervalMs: 100,
    description: `containerd on ${layout.files.containerdSocket}`,
    giveUp: () => exitedWithLog(containerd),
  });
  return containerd;
}

/**
 * Kills and deletes every task through containerd (a shim keeps its pod running after containerd exits), then
 * stops containerd.
 */
export async function stopContainerd(layout: StateLayout): Promise<void> {
  // Without a containerd behind the socket, ctr would wait 10 s for a connection.
  if ((await recordedPid(layout, 'containerd')) !== undefined) {
    // Best effort: whatever containerd fails to stop is killed with the rest of the box.
    const lines = async (args: string[], namespace: string) =>
      ((await ctr(layout, args, namespace).catch(() => undefined))?.stdout ?? '').split('\n').filter(Boolean);
    for (const namespace of await lines(['namespaces', 'ls', '-q'], 'default')) {
      const tasks = await lines(['tasks', 'ls', '-q'], namespace);
      await Promise.all(tasks.map((id) => lines(['tasks', 'delete', '--force', id], namespace)));
    }
    // A shim (started with `-address <socket>`) exits when containerd tells it to, a moment after its last task is
    // deleted; stopping containerd before that would leave the shim running.
    await waitFor(async () => processesMentioning(layout.files.containerdSocket).length === 0 || undefined, {
      timeoutMs: SHIM_EXIT_TIMEOUT_MS,
      description: 'the containerd shims to exit',
    }).catch(() => undefined);
  }
  await stopRecordedProcess(layout, 'containerd');
}
