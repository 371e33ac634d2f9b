import { existsSync } from 'node:fs';
import type { V1Secret } from '@kubernetes/client-node';
import { tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { loadClusterAccess } from '../controller/cluster-access.ts';
import { builtinResources, hasStatus, KubeClient, resourcePath } from '../controller/kube-client.ts';
import { objectNames } from '../tenant/names.ts';
import { adminNodeStatus, NODE_PROCESSES } from './admin-node.ts';
import { adminNodeRows } from './admin-nodes-status.ts';
import { datastoreProcesses } from './datastores/index.ts';
import { managerStatus } from './kamaji-install.ts';
import { recordedPid } from './pid-files.ts';
import { type StateLayout, workerLayout } from './state.ts';
import { hostKubeconfigPath, OWNER_PROCESS, ownerProcesses } from './up.ts';
import { listWorkers, WORKER_OWNER_PROCESS } from './worker.ts';

/** What to run when there is no cluster in the state dir: the error says it, not a raw ENOENT. */
function noClusterHint(layout: StateLayout): string {
  return `no local admin cluster in ${layout.root}: run "kamaji up --state-dir ${layout.root}" (as root), or pass the --state-dir of a running one`;
}

export function adminClient(layout: StateLayout): KubeClient {
  if (!existsSync(hostKubeconfigPath(layout))) throw new Error(noClusterHint(layout));
  return new KubeClient(loadClusterAccess(hostKubeconfigPath(layout)));
}

export interface ClusterStatus {
  text: string;
  /** The owner runs and the admin API server answers. */
  up: boolean;
}

/** The admin components (running or not, with pids) and every tenant with its status and endpoint. */
export async function clusterStatus(layout: StateLayout): Promise<ClusterStatus> {
  const node = await adminNodeStatus(layout);
  const lines = [`state dir ${layout.root} (node ${layout.names.nodeName}, address ${layout.network.nodeAddress})`];
  const processes = [OWNER_PROCESS, ...NODE_PROCESSES, ...(await datastoreProcesses(layout))];
  for (const name of processes) {
    const pid = await recordedPid(layout, name);
    let state = pid === undefined ? 'not running' : `running (pid ${pid})`;
    if (pid === undefined && name === OWNER_PROCESS) {
      // Found by its command line: its pid file is gone (the state dir deleted under it?); `down` stops it.
      const unrecorded = await ownerProcesses(layout);
      if (unrecorded.length > 0) state = `running (pid ${unrecorded.join(', ')}) without its pid file`;
    }
    lines.push(`  ${name.padEnd(16)} ${state}`);
  }
  lines.push(
    `  ${'node box'.padEnd(16)} ${node.boxExists ? 'present' : 'absent'}, kubeadm ${node.initialized ? 'initialised' : 'not run'}`,
  );
  for (const worker of await listWorkers(layout)) {
    const box = workerLayout(layout, worker);
    const owner = await recordedPid(box, WORKER_OWNER_PROCESS);
    lines.push(
      `  ${`worker ${worker.name}`.padEnd(16)} ${owner === undefined ? 'not running' : `running (pid ${owner})`}, ` +
        `${box.network.nodeAddress} in ${worker.namespace}/${worker.tenant}`,
    );
  }
  for (const [name, address, podRange, owner] of await adminNodeRows(layout)) {
    lines.push(`  ${`node ${name}`.padEnd(16)} ${owner}, ${address}, pod range ${podRange}`);
  }
  if (!node.boxExists || !existsSync(hostKubeconfigPath(layout))) {
    return { text: `${lines.join('\n')}\n${noClusterHint(layout)}\n`, up: false };
  }
  const client = adminClient(layout);
  let up = true;
  try {
    lines.push(`  ${'manager'.padEnd(16)} ${await managerStatus(client)}`);
    const { items } = await client.request<{ items: TenantControlPlane[] }>(
      'GET',
      resourcePath(tenantControlPlaneResource),
    );
    lines.push('tenants:');
    if (items.length === 0) lines.push('  (none)');
    for (const tcp of items) {
      const version = tcp.status?.kubernetesResources?.version;
      lines.push(
        `  ${`${tcp.metadata.namespace}/${tcp.metadata.name}`.padEnd(28)} ${(version?.status ?? 'Unknown').padEnd(13)} ` +
          `${version?.version ?? tcp.spec.kubernetes.version}  ${tcp.status?.controlPlaneEndpoint ?? ''}`,
      );
    }
  } catch (error) {
    up = false;
    lines.push(
      `tenants: the admin API server does not answer (${(error as Error).message}); "kamaji up --state-dir ${layout.root}" resumes a stopped cluster`,
    );
  } finally {
    client.close();
  }
  return { text: `${lines.join('\n')}\n`, up };
}

/** The tenant's admin.conf; its server is the NodePort on the node address, which this host reaches. */
export async function tenantKubeconfig(layout: StateLayout, namespace: string, name: string): Promise<string> {
  const client = adminClient(layout);
  try {
    const secretName = objectNames(name).adminKubeconfigSecret;
    const secret = await client
      .request<V1Secret>('GET', resourcePath(builtinResources.secret, { namespace, name: secretName }))
      .catch((error: unknown) => {
        if (!hasStatus(error, 404)) throw error;
        throw new Error(
          `TenantControlPlane ${namespace}/${name} has no admin kubeconfig (Secret ${secretName} not found): check the name and namespace (-n); "kamaji status --state-dir ${layout.root}" lists the tenants`,
        );
      });
    const data = secret.data?.['admin.conf'];
    if (!data) throw new Error(`Secret ${namespace}/${secretName} has no admin.conf yet: is the tenant provisioned?`);
    return Buffer.from(data, 'base64').toString('utf8');
  } finally {
    client.close();
  }
}
