import type { DataStore } from '../../api/v1alpha1/datastore.ts';
import { dataStoreResource } from '../../api/v1alpha1/resources.ts';
import { readObject } from '../../controller/apply.ts';
import type { KubeClient } from '../../controller/kube-client.ts';
import { recordedPid } from '../pid-files.ts';
import type { StateLayout } from '../state.ts';
import { adminClient } from '../status.ts';
import { listDatastores } from './index.ts';
import { datastoreProcess } from './launch.ts';

/** `kamaji datastore list`: one row per local datastore; its users as its DataStore's status counts them. */
export async function datastoreRows(layout: StateLayout): Promise<string[][]> {
  const records = await listDatastores(layout);
  const client = reachableClient(layout);
  const usedBy = async (name: string): Promise<string> => {
    if (!client) return '(admin cluster not set up)';
    const dataStore = await readObject<DataStore>(client, dataStoreResource, { name }).catch(() => undefined);
    if (!dataStore) return '(no DataStore in the cluster)';
    return dataStore.status?.usedBy?.join(',') || '-';
  };
  try {
    return await Promise.all(
      records.map(async (record) => {
        const pid = await recordedPid(layout, datastoreProcess(record.name));
        return [
          record.name,
          record.driver,
          `${layout.network.nodeAddress}:${record.port}`,
          pid === undefined ? 'stopped' : `pid ${pid}`,
          await usedBy(record.name),
        ];
      }),
    );
  } finally {
    client?.close();
  }
}

/** The admin cluster's client, or none before the first `up` (the servers' rows still show). */
function reachableClient(layout: StateLayout): KubeClient | undefined {
  try {
    return adminClient(layout);
  } catch {
    return undefined;
  }
}
