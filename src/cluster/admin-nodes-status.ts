import { listAdminNodes } from './admin-nodes.ts';
import { recordedPid } from './pid-files.ts';
import { adminNodeLayout, type StateLayout } from './state.ts';
import { WORKER_OWNER_PROCESS } from './worker.ts';

/** One row per added admin node: name, address, pod range, owner process (for `node list` and `status`). */
export async function adminNodeRows(admin: StateLayout): Promise<string[][]> {
  const rows: string[][] = [];
  for (const node of await listAdminNodes(admin)) {
    const layout = adminNodeLayout(admin, node);
    const owner = await recordedPid(layout, WORKER_OWNER_PROCESS);
    rows.push([
      node.name,
      layout.network.nodeAddress,
      node.podCidr ?? '-',
      owner === undefined ? 'stopped' : `running (pid ${owner})`,
    ]);
  }
  return rows;
}
