import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { SupervisedProcess, Supervisor } from '../process/supervisor.ts';
import { type NodeBox, runInBox, startInBox } from './node-box.ts';
import type { StateLayout } from './state.ts';

/** kube-proxy in iptables mode; its rules live in the node's network namespace and go with it. */
export function kubeProxyConfig(layout: StateLayout): string {
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    mode: 'iptables',
    clusterCIDR: layout.network.podSubnet,
    hostnameOverride: layout.names.nodeName,
    clientConnection: { kubeconfig: layout.files.kubeProxyKubeconfig },
    // nf_conntrack_max is one setting for the whole machine: leave it as the host has it.
    conntrack: { maxPerCore: 0 },
    // Node ports on the node address (which the host reaches), not on every address of the namespace.
    nodePortAddresses: ['primary'],
  });
}

/**
 * Starts kube-proxy in the box. Its credentials: a client certificate for `system:kube-proxy`, the user the
 * built-in `system:node-proxier` binding already authorises, signed by the cluster CA through kubeadm.
 */
export async function startKubeProxy(
  box: NodeBox,
  supervisor: Supervisor,
  binaries: { kubeadm: string; kubeProxy: string },
): Promise<SupervisedProcess> {
  const { layout } = box;
  const kubeconfig = await runInBox(box, binaries.kubeadm, [
    'kubeconfig',
    'user',
    `--config=${layout.files.kubeadmConfig}`,
    '--client-name=system:kube-proxy',
  ]);
  await writeFile(layout.files.kubeProxyKubeconfig, kubeconfig.stdout, { mode: 0o600 });
  await writeFile(layout.files.kubeProxyConfig, kubeProxyConfig(layout));
  return startInBox(box, supervisor, {
    name: 'kube-proxy',
    command: binaries.kubeProxy,
    args: [`--config=${layout.files.kubeProxyConfig}`],
  });
}
