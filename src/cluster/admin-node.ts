import { readFile, rm } from 'node:fs/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { loadClusterAccess } from '../controller/cluster-access.ts';
import { KubeClient } from '../controller/kube-client.ts';
import type { Supervisor } from '../process/supervisor.ts';
import { ensureComponents } from '../toolchain/ensure.ts';
import { KUBERNETES_VERSION } from '../toolchain/versions.ts';
import { resumeAdminNodes, stopAdminNodes } from './admin-nodes.ts';
import { clusterImageSpecs, IMAGE_COMPONENTS, NODE_IMAGES, publishImages } from './cluster-images.ts';
import { startContainerd, stopContainerd } from './containerd.ts';
import { ensureOwnProgram } from './images.ts';
import { startKubeProxy } from './kube-proxy.ts';
import { adminKubeconfigPath, kubeadmInit, kubeadmInitialized } from './kubeadm.ts';
import { restoreHostSysctls, startKubelet } from './kubelet.ts';
import {
  ensureNodeBox,
  existingNodeBox,
  mountPoints,
  mountsToUnmount,
  type NodeBox,
  removeNodeBox,
} from './node-box.ts';
import { waitForNodeReady as waitForNamedNodeReady } from './nodes.ts';
import { recordedPid, stopRecordedProcess } from './pid-files.ts';
import { REGISTRY_PROCESS, registryAddress, registryMirror, startRegistry, stopRegistry } from './registry.ts';
import { type StateLayout, stateLayout } from './state.ts';

/** The node processes, in start order; `down` stops them in reverse. */
export const NODE_PROCESSES = [
  'mount-holder',
  'containerd',
  REGISTRY_PROCESS,
  'kubeadm-init',
  'kubelet',
  'kube-proxy',
] as const;

/** Toolchain components the admin node runs or packs into images. */
export const ADMIN_NODE_COMPONENTS = [...IMAGE_COMPONENTS, 'kubeadm', 'kubelet'] as const;

export interface AdminNodeOptions {
  stateDir: string;
  /** Owns every process started; stopping it (or its owner exiting) stops the node. */
  supervisor: Supervisor;
  /** Progress lines; stderr by default. */
  report?: (line: string) => void;
}

export interface AdminNode {
  layout: StateLayout;
  box: NodeBox;
  /** /etc/kubernetes/admin.conf as the host sees it; its server is the node address, reachable from the host. */
  kubeconfigPath: string;
}

/**
 * Brings the admin node up, or completes one that is partly up: box, containerd, images, `kubeadm init` (once per
 * state dir) with the kubelet, and kube-proxy, and the registry. Returns once kubeadm is done and every image is in
 * the registry; the node turns Ready shortly after.
 * On failure, whatever did start keeps running: `stopAdminNode` takes it down.
 */
export async function startAdminNode(options: AdminNodeOptions): Promise<AdminNode> {
  const report = options.report ?? ((line: string) => process.stderr.write(`admin node: ${line}\n`));
  const started = Date.now();
  const step = (what: string) => report(`${what} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
  const binaries = await ensureComponents([...ADMIN_NODE_COMPONENTS]);
  const path = (name: string) => binaries.get(name)!.path;
  const [pause, httpEcho] = await Promise.all([ensureOwnProgram('pause'), ensureOwnProgram('http-echo')]);
  const imageSpecs = await clusterImageSpecs(path, { pause, httpEcho });
  const layout = stateLayout(options.stateDir);
  const status = await adminNodeStatus(layout);
  if (!status.boxExists && Object.values(status.processes).some((pid) => pid !== undefined)) {
    // An earlier owner died without `down`: its processes outlived the box and would not see a new one.
    report('clearing the remains of an earlier run');
    await stopAdminNode(layout);
  }
  const box = await ensureNodeBox(layout, options.supervisor);
  step(`node box ${layout.names.netns} ready, node address ${layout.network.nodeAddress}`);
  await Promise.all([
    (async () => {
      if ((await recordedPid(layout, 'containerd')) !== undefined) return;
      await startContainerd(box, options.supervisor, { mirror: registryMirror(layout) });
    })(),
    (async () => {
      if ((await recordedPid(layout, REGISTRY_PROCESS)) === undefined) await startRegistry(box, options.supervisor);
    })(),
  ]);
  step(`containerd and the registry (${registryAddress(layout)}) answering`);
  // kubeadm's images are imported into containerd before anything else (the control plane never waits on the
  // registry); all of them are pushed to the registry meanwhile, awaited before returning.
  const { imported, pushed } = await publishImages(layout, imageSpecs, (reference) => NODE_IMAGES.includes(reference));
  step(`images kubeadm uses imported (${imported.length} new)`);
  if (!kubeadmInitialized(layout)) {
    await kubeadmInit(
      box,
      options.supervisor,
      { kubeadm: path('kubeadm'), kubelet: path('kubelet') },
      KUBERNETES_VERSION,
    );
    step('kubeadm init done');
  } else if ((await recordedPid(layout, 'kubelet')) === undefined) {
    await startKubelet(box, options.supervisor, path('kubelet'));
    step('kubelet started on the existing cluster');
  }
  if ((await recordedPid(layout, 'kube-proxy')) === undefined) {
    await startKubeProxy(box, options.supervisor, { kubeadm: path('kubeadm'), kubeProxy: path('kube-proxy') });
    step('kube-proxy started');
  }
  step(`images in the registry ${registryAddress(layout)} (${(await pushed).length} new)`);
  // Nodes added with `kamaji node add` before a `down` come back too, each on its own.
  await resumeAdminNodes(layout, report);
  return { layout, box, kubeconfigPath: adminKubeconfigPath(layout) };
}

/** A client configuration for the admin cluster, from the host. */
export async function adminKubeConfig(layout: StateLayout): Promise<KubeConfig> {
  const config = new KubeConfig();
  config.loadFromString(await readFile(adminKubeconfigPath(layout), 'utf8'));
  return config;
}

/** Waits until the admin node reports Ready (the CNI configuration loaded, the kubelet healthy). */
export async function waitForNodeReady(layout: StateLayout, timeoutMs = 180_000): Promise<void> {
  const client = new KubeClient(loadClusterAccess(adminKubeconfigPath(layout)));
  try {
    await waitForNamedNodeReady(client, layout.names.nodeName, timeoutMs);
  } finally {
    client.close();
  }
}

export interface AdminNodeStatus {
  stateDir: string;
  boxExists: boolean;
  initialized: boolean;
  /** Each node process and its pid, or undefined when it does not run. */
  processes: Record<(typeof NODE_PROCESSES)[number], number | undefined>;
}

export async function adminNodeStatus(layout: StateLayout): Promise<AdminNodeStatus> {
  const entries = await Promise.all(NODE_PROCESSES.map(async (name) => [name, await recordedPid(layout, name)]));
  return {
    stateDir: layout.root,
    boxExists: (await existingNodeBox(layout)) !== undefined,
    initialized: kubeadmInitialized(layout),
    processes: Object.fromEntries(entries) as AdminNodeStatus['processes'],
  };
}

/**
 * Takes the node down from any state, from this process or another: kube-proxy and the kubelet first (so nothing
 * restarts pods; the kernel settings the kubelet changed are put back), containerd after killing its tasks, then
 * `stopAfterPods` (recorded processes in the box whose clients were pods), then the box. With `removeState`, the
 * state dir goes too; otherwise the next `up` finds the cluster as it was (kubeadm is not run again).
 */
export async function stopAdminNode(
  layout: StateLayout,
  options: { removeState?: boolean; stopAfterPods?: readonly string[] } = {},
): Promise<void> {
  // The other admin nodes first: their kubelets and kube-proxies talk to this node's API server.
  await stopAdminNodes(layout);
  for (const name of ['kube-proxy', 'kubelet', 'kubeadm-init']) await stopRecordedProcess(layout, name);
  await restoreHostSysctls(layout);
  await stopContainerd(layout);
  await stopRegistry(layout);
  for (const name of options.stopAfterPods ?? []) await stopRecordedProcess(layout, name);
  await removeNodeBox(layout);
  if (!options.removeState) return;
  // Never recurse into a directory that still has something mounted below it.
  const mounted = mountsToUnmount(mountPoints(await readFile('/proc/self/mountinfo', 'utf8')), [layout.root]);
  if (mounted.length > 0) throw new Error(`not removing ${layout.root}: still mounted below it: ${mounted.join(', ')}`);
  await rm(layout.root, { recursive: true, force: true });
}
