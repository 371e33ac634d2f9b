import type { V1Node } from '@kubernetes/client-node';
import { builtinResources, hasStatus, type KubeClient, resourcePath } from '../controller/kube-client.ts';
import { waitFor } from '../util/wait.ts';

/** A Node, or undefined while it is not registered. */
export async function readNode(client: KubeClient, name: string): Promise<V1Node | undefined> {
  return client.request<V1Node>('GET', resourcePath(builtinResources.node, { name })).catch((error: unknown) => {
    if (hasStatus(error, 404)) return undefined;
    throw error;
  });
}

/** Waits until a Node reports Ready (its kubelet healthy, its CNI configuration loaded). */
export async function waitForNodeReady(client: KubeClient, name: string, timeoutMs: number): Promise<void> {
  await waitFor(
    async () => {
      const ready = (await readNode(client, name))?.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') return true;
      throw new Error(`Ready=${ready?.status ?? 'unknown'}: ${ready?.message ?? 'not registered yet'}`);
    },
    { timeoutMs, intervalMs: 500, description: `Node ${name} to be Ready` },
  );
}
