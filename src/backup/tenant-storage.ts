import type { DataStore } from '../api/v1alpha1/datastore.ts';
import { dataStoreResource, tenantControlPlaneResource } from '../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import { type ApiCaller, readObject } from '../controller/apply.ts';
import { readSecretData } from '../controller/secret-data.ts';
import { type ResolvedDataStore, resolveDataStore } from '../datastore/connections.ts';
import type { TenantStorage } from '../datastore/driver.ts';
import { objectNames } from '../tenant/names.ts';

/** Where a tenant's keys are: its TCP, the DataStore its data is on, how to reach it, and the tenant's identity there. */
export interface TenantStorageLocation {
  tcp: TenantControlPlane;
  dataStore: DataStore;
  resolved: ResolvedDataStore;
  storage: TenantStorage;
}

export async function readTenantControlPlane(client: ApiCaller, namespace: string, name: string) {
  return readObject<TenantControlPlane>(client, tenantControlPlaneResource, { namespace, name });
}

/**
 * Reads the TCP, the DataStore its data is on (status.storage, which during a migration is still the source) and
 * its Secrets, and for SQL the tenant's password (`<tcp>-datastore-config`): what opening its key space takes.
 */
export async function locateTenantStorage(
  client: ApiCaller,
  namespace: string,
  name: string,
): Promise<TenantStorageLocation> {
  const where = `TenantControlPlane ${namespace}/${name}`;
  const tcp = await readTenantControlPlane(client, namespace, name);
  if (!tcp) throw new Error(`${where} not found: check the name and the namespace (-n)`);
  const recorded = tcp.status?.storage;
  const dataStoreName = recorded?.dataStoreName ?? tcp.spec.dataStore;
  const schema = recorded?.setup?.schema ?? tcp.spec.dataStoreSchema;
  const username = recorded?.setup?.user ?? tcp.spec.dataStoreUsername;
  if (!dataStoreName || !schema || !username) {
    throw new Error(`${where} has no datastore yet (status.storage is empty): wait until it is provisioned`);
  }
  const dataStore = await readObject<DataStore>(client, dataStoreResource, { name: dataStoreName });
  if (!dataStore) throw new Error(`${where} is on DataStore ${dataStoreName}, which does not exist`);
  const readSecret = (secretNamespace: string, secretName: string) =>
    readSecretData(client, secretNamespace, secretName);
  const resolved = await resolveDataStore(dataStoreName, dataStore.spec, readSecret);
  const storage: TenantStorage = { schema, username };
  if (resolved.kind !== 'etcd') {
    const configSecret = objectNames(name).datastoreConfigSecret;
    const password = (await readSecret(namespace, configSecret))?.DB_PASSWORD;
    if (!password) {
      throw new Error(
        `${where}: Secret ${namespace}/${configSecret} has no DB_PASSWORD yet: wait until it is provisioned`,
      );
    }
    storage.password = password;
  }
  return { tcp, dataStore, resolved, storage };
}
