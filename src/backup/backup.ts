import type { ApiCaller } from '../controller/apply.ts';
import { type KeyspaceOptions, openTenantKeyspace } from '../datastore/keyspace/keyspace.ts';
import { type BackupHeader, encodeBackup } from './format.ts';
import { locateTenantStorage } from './tenant-storage.ts';

/**
 * A backup of one tenant: every key of its key space read at one revision of its DataStore (the keyspace module
 * pages through it at that revision), with the header that says whose keys they are and how to check them.
 */
export async function backupTenant(
  client: ApiCaller,
  tenant: { namespace: string; name: string },
  options: { keyspace?: KeyspaceOptions; now?: () => Date } = {},
): Promise<{ header: BackupHeader; bytes: Buffer }> {
  const { tcp, dataStore, resolved, storage } = await locateTenantStorage(client, tenant.namespace, tenant.name);
  const keyspace = await openTenantKeyspace(resolved, storage, options.keyspace);
  try {
    const snapshot = await keyspace.snapshot();
    return encodeBackup(
      {
        createdAt: (options.now?.() ?? new Date()).toISOString(),
        tenant: { namespace: tenant.namespace, name: tenant.name, uid: tcp.metadata.uid ?? '' },
        kubernetesVersion: tcp.status?.kubernetesResources?.version?.version ?? tcp.spec.kubernetes.version,
        dataStore: { name: dataStore.metadata.name ?? '', driver: dataStore.spec.driver },
        schema: storage.schema,
        revision: snapshot.revision,
        spec: tcp.spec,
      },
      snapshot.entries,
    );
  } finally {
    await keyspace.close();
  }
}
