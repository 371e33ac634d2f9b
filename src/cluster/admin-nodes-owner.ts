import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { Supervisor } from '../process/supervisor.ts';
import { ensureComponents } from '../toolchain/ensure.ts';
import {
  type AdminNodeRecord,
  adminNodeClient,
  adminNodeOwnerArguments,
  claimAdminNode,
  readAdminNode,
  startAdminNodeBox,
  writeAdminNode,
} from './admin-nodes.ts';
import { createJoinCommand } from './join.ts';
import { adminKubeconfigPath } from './kubeadm.ts';
import { readNode } from './nodes.ts';
import { recordedPid, recordProcess } from './pid-files.ts';
import { adminNodeLayout, type StateLayout } from './state.ts';
import { WORKER_OWNER_PROCESS } from './worker.ts';
import { launchOwner } from './worker-owner.ts';

/**
 * Why another node cannot join this admin cluster now, with what to do; undefined when it can. The first node's pods
 * must keep to the range its Node was allocated, or the routes to the other nodes' pods would be shadowed.
 */
export function adminJoinRefusal(admin: StateLayout, firstNodePodCidr: string | undefined): string | undefined {
  const expected = admin.network.nodePodSubnet;
  if (firstNodePodCidr === expected) return undefined;
  return (
    `the admin node ${admin.names.nodeName} was allocated pod range ${firstNodePodCidr ?? '(none)'}, but its pods take ` +
    `addresses from ${expected}: this state dir predates admin nodes; "kamaji down --purge --state-dir ${admin.root}" ` +
    'then "kamaji up" makes one that can take more nodes'
  );
}

/**
 * Adds a node to the admin cluster: checks the cluster can take it, claims a name and an address, starts the node's
 * owner process (which outlives this one) and follows its progress until the Node is Ready or the owner fails.
 */
export async function addAdminNode(
  admin: StateLayout,
  request: { name?: string },
  write: (text: string) => void,
): Promise<AdminNodeRecord> {
  if (!existsSync(adminKubeconfigPath(admin))) {
    throw new Error(
      `no local admin cluster in ${admin.root}: run "kamaji up --state-dir ${admin.root}" (as root) first, or pass the --state-dir of a running one`,
    );
  }
  const client = adminNodeClient(admin);
  try {
    const first = await readNode(client, admin.names.nodeName).catch((error: Error) => {
      throw new Error(
        `the admin cluster in ${admin.root} does not answer (${error.message}): "kamaji up --state-dir ${admin.root}" resumes a stopped one`,
      );
    });
    const refusal = adminJoinRefusal(admin, first?.spec?.podCIDR);
    if (refusal) throw new Error(refusal);
  } finally {
    client.close();
  }
  return launchAdminNodeOwner(admin, await claimAdminNode(admin, request.name), write);
}

async function launchAdminNodeOwner(
  admin: StateLayout,
  claimed: AdminNodeRecord,
  write: (text: string) => void,
): Promise<AdminNodeRecord> {
  const { readyAt: _previous, ...record } = claimed;
  await writeAdminNode(admin, record);
  await launchOwner({
    layout: adminNodeLayout(admin, record),
    args: adminNodeOwnerArguments(admin, record.name),
    ready: async () => (await readAdminNode(admin, record.name))?.readyAt !== undefined,
    write,
    failure: `admin node ${record.name} did not come up`,
    cleanup: `kamaji node remove ${record.name}`,
  });
  return (await readAdminNode(admin, record.name)) ?? record;
}

/**
 * The admin node owner's work (`kamaji node run`): bring the node up, then stay to supervise its processes; they
 * stop when it does (SIGTERM from `node remove`/`down`, or its death).
 */
export async function runAdminNodeOwner(admin: StateLayout, name: string, report: (line: string) => void) {
  const record = await readAdminNode(admin, name);
  if (!record) throw new Error(`no admin node named ${name} in ${admin.root}: "kamaji node list" shows them`);
  const layout = adminNodeLayout(admin, record);
  if ((await recordedPid(layout, WORKER_OWNER_PROCESS)) !== process.pid) {
    await recordProcess(layout, WORKER_OWNER_PROCESS, process.pid);
  }
  const binaries = await ensureComponents(['kubeadm', 'kubelet', 'kube-proxy']);
  const path = (component: string) => binaries.get(component)?.path ?? component;
  return startAdminNodeBox(
    admin,
    name,
    new Supervisor(),
    {
      binaries: { kubeadm: path('kubeadm'), kubelet: path('kubelet'), kubeProxy: path('kube-proxy') },
      joinCommand: async () => createJoinCommand(path('kubeadm'), await readFile(adminKubeconfigPath(admin), 'utf8')),
    },
    report,
  );
}
