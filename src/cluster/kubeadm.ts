import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { exitedWithLog, type SupervisedProcess, type Supervisor, tailFile } from '../process/supervisor.ts';
import { waitFor } from '../util/wait.ts';
import { kubeletConfigured, startKubelet } from './kubelet.ts';
import { type NodeBox, startInBox } from './node-box.ts';
import { boxPath, logFile, type StateLayout } from './state.ts';

export const API_SERVER_PORT = 6443;

/** kube-proxy runs as a plain process (its image would need iptables); CoreDNS comes later, from Kamaji's side. */
export const SKIPPED_PHASES = ['addon/coredns', 'addon/kube-proxy'];

/** How long kubeadm may take to write the kubelet's configuration (it does so within seconds). */
const KUBELET_CONFIG_TIMEOUT_MS = 120_000;

/**
 * The v1beta4 configuration for `kubeadm init`: Init- and ClusterConfiguration, and the KubeletConfiguration it
 * writes to /var/lib/kubelet/config.yaml. docs/local-admin-cluster.md gives the reason for each setting.
 */
export function kubeadmConfig(layout: StateLayout, kubernetesVersion: string): string {
  const init = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'InitConfiguration',
    localAPIEndpoint: { advertiseAddress: layout.network.nodeAddress, bindPort: API_SERVER_PORT },
    nodeRegistration: {
      name: layout.names.nodeName,
      criSocket: `unix://${layout.files.containerdSocket}`,
      imagePullPolicy: 'Never',
      ignorePreflightErrors: ['all'],
      // A single node runs everything, Kamaji and tenant control planes included.
      taints: [],
    },
  };
  const cluster = {
    apiVersion: 'kubeadm.k8s.io/v1beta4',
    kind: 'ClusterConfiguration',
    clusterName: 'kamaji-admin',
    kubernetesVersion,
    networking: { podSubnet: layout.network.podSubnet, serviceSubnet: layout.network.serviceSubnet },
    apiServer: { extraArgs: [{ name: 'kubelet-preferred-address-types', value: 'InternalIP' }] },
  };
  const kubelet = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    cgroupDriver: 'cgroupfs',
    cgroupRoot: layout.names.cgroupRoot,
    failCgroupV1: false,
    failSwapOn: false,
  };
  return [init, cluster, kubelet].map((document) => stringify(document)).join('---\n');
}

export function kubeadmInitArgs(configFile: string): string[] {
  return ['init', `--config=${configFile}`, `--skip-phases=${SKIPPED_PHASES.join(',')}`];
}

/** kubeadm init has completed in this state dir before: its admin kubeconfig is there. */
export function kubeadmInitialized(layout: StateLayout): boolean {
  return existsSync(adminKubeconfigPath(layout));
}

/** Where the host reads /etc/kubernetes/admin.conf (the bind mount's source). */
export function adminKubeconfigPath(layout: StateLayout): string {
  return boxPath(layout, '/etc/kubernetes', 'admin.conf');
}

/**
 * Runs `kubeadm init` inside the box. Without systemd, kubeadm cannot start the kubelet it configures, so it is
 * started here once its configuration appears; kubeadm then finds it healthy and completes.
 */
export async function kubeadmInit(
  box: NodeBox,
  supervisor: Supervisor,
  binaries: { kubeadm: string; kubelet: string },
  kubernetesVersion: string,
): Promise<SupervisedProcess> {
  const { layout } = box;
  await writeFile(layout.files.kubeadmConfig, kubeadmConfig(layout, kubernetesVersion));
  return runKubeadmWithKubelet(box, supervisor, binaries, {
    name: 'kubeadm-init',
    args: kubeadmInitArgs(layout.files.kubeadmConfig),
  });
}

/**
 * Runs a kubeadm command that configures the kubelet and then waits for it to be healthy (`init`, `join`): the
 * kubelet is started here as soon as kubeadm has written its configuration, as systemd would.
 */
export async function runKubeadmWithKubelet(
  box: NodeBox,
  supervisor: Supervisor,
  binaries: { kubeadm: string; kubelet: string },
  command: { name: string; args: string[] },
): Promise<SupervisedProcess> {
  const { layout } = box;
  const kubeadm = await startInBox(box, supervisor, {
    name: command.name,
    command: binaries.kubeadm,
    args: command.args,
  });
  await waitFor(async () => kubeletConfigured(layout) || undefined, {
    timeoutMs: KUBELET_CONFIG_TIMEOUT_MS,
    intervalMs: 200,
    description: `${command.name} to write the kubelet configuration`,
    giveUp: () => exitedWithLog(kubeadm),
  });
  const kubelet = await startKubelet(box, supervisor, binaries.kubelet);
  const result = await kubeadm.exited;
  if (result !== 0) {
    throw new Error(
      `${command.name} failed (${result}); the end of its log:\n${await tailFile(logFile(layout, kubeadm.name))}`,
    );
  }
  return kubelet;
}
