import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataStore } from '../../api/v1alpha1/datastore.ts';
import { dataStoreResource, tenantControlPlaneResource } from '../../api/v1alpha1/resources.ts';
import type { TenantControlPlane } from '../../api/v1alpha1/tenant-control-plane.ts';
import { readObject } from '../../controller/apply.ts';
import { builtinResources, hasStatus, type KubeClient, resourcePath } from '../../controller/kube-client.ts';
import { withLock } from '../../toolchain/cache.ts';
import { applyDataStore, KAMAJI_NAMESPACE } from '../kamaji-install.ts';
import { existingNodeBox, type NodeBox } from '../node-box.ts';
import { recordedPid, stopRecordedProcess } from '../pid-files.ts';
import type { StateLayout } from '../state.ts';
import { boxRecords, validateWorkerName } from '../worker.ts';
import { etcdServer } from './etcd.ts';
import { datastoreProcess, launchInBox } from './launch.ts';
import type { DatastoreRecord, LocalDatastoreObjects, LocalDatastoreServer, LocalDriver } from './local-datastore.ts';
import { mysqlServer } from './mysql.ts';
import { postgresqlServer } from './postgresql.ts';

/** The local datastore servers by the driver name users type; one module each, of one shape. */
export const LOCAL_DATASTORE_SERVERS: Partial<Record<LocalDriver, LocalDatastoreServer>> = {
  etcd: etcdServer,
  postgresql: postgresqlServer,
  mysql: mysqlServer,
};

/** The DataStore `up` starts; TCPs without `spec.dataStore` use it (the manager's default). */
export const DEFAULT_DATASTORE_NAME = 'default';
/** How many local datastores of one driver an instance may have (ports are taken from the driver's first one up). */
const MAX_PER_DRIVER = 32;
/** etcd's peer port, on loopback, is its client port plus this (etcd.ts); no other port may take it. */
const ETCD_PEER_OFFSET = 1000;

export function serverFor(driver: LocalDriver): LocalDatastoreServer {
  const server = LOCAL_DATASTORE_SERVERS[driver];
  if (!server) {
    const available = Object.keys(LOCAL_DATASTORE_SERVERS).join(', ');
    throw new Error(`no local ${driver} datastore server in this build: choose one of ${available}`);
  }
  return server;
}

function datastoresDir(layout: StateLayout): string {
  return join(layout.root, 'datastores');
}

const records = (layout: StateLayout) => boxRecords<DatastoreRecord>(datastoresDir(layout), 'datastore.json');

/** Every local datastore of the instance, in the order they were added (`default` first). */
export function listDatastores(layout: StateLayout): Promise<DatastoreRecord[]> {
  return records(layout).list();
}

export function readDatastore(layout: StateLayout, name: string): Promise<DatastoreRecord | undefined> {
  return records(layout).read(name);
}

/** The pid file names of every local datastore's server, for `down` and `status`. */
export async function datastoreProcesses(layout: StateLayout): Promise<string[]> {
  return (await listDatastores(layout)).map((record) => datastoreProcess(record.name));
}

/** The lowest free index, and the driver's first port not taken by another datastore (client or etcd peer port). */
export function allocateDatastore(
  existing: readonly DatastoreRecord[],
  request: { name: string; driver: LocalDriver },
): DatastoreRecord {
  if (existing.some((record) => record.name === request.name)) {
    throw new Error(`a datastore named ${request.name} exists already ("kamaji datastore list" shows them)`);
  }
  const taken = new Set(
    existing.flatMap((record) => [record.port, ...(record.driver === 'etcd' ? [record.port + ETCD_PEER_OFFSET] : [])]),
  );
  const { firstPort } = serverFor(request.driver);
  const free = (port: number) => !taken.has(port) && (request.driver !== 'etcd' || !taken.has(port + ETCD_PEER_OFFSET));
  const offset = [...Array(MAX_PER_DRIVER).keys()].find((candidate) => free(firstPort + candidate));
  if (offset === undefined) throw new Error(`this instance has ${MAX_PER_DRIVER} ${request.driver} datastores already`);
  const indexes = new Set(existing.map((record) => record.index));
  const index = [...Array(existing.length + 1).keys()].find((candidate) => !indexes.has(candidate)) ?? 0;
  return { ...request, index, port: firstPort + offset };
}

/** The record of `up`'s DataStore: claimed on the first `up`; a later `up` must ask for the same driver. */
export async function claimDefaultDatastore(layout: StateLayout, driver: LocalDriver): Promise<DatastoreRecord> {
  const existing = await readDatastore(layout, DEFAULT_DATASTORE_NAME);
  if (existing && existing.driver !== driver) {
    throw new Error(
      `--datastore ${driver}: ${layout.root} was brought up with --datastore ${existing.driver}, and its tenants' data ` +
        `is there; run "kamaji up --datastore ${existing.driver}", or "kamaji down --purge" first to start over`,
    );
  }
  return existing ?? claimDatastore(layout, { name: DEFAULT_DATASTORE_NAME, driver });
}

/** `<driver>-<n>` with the lowest n from 1 that no datastore has. */
export function defaultDatastoreName(existing: readonly DatastoreRecord[], driver: LocalDriver): string {
  const names = new Set(existing.map((record) => record.name));
  let n = 1;
  while (names.has(`${driver}-${n}`)) n += 1;
  return `${driver}-${n}`;
}

/** Claims a name and a port, atomically against a concurrent `datastore add`. */
export function claimDatastore(
  layout: StateLayout,
  request: { name: string; driver: LocalDriver },
): Promise<DatastoreRecord> {
  const invalid = validateWorkerName(request.name, 'datastore');
  if (invalid) throw new Error(invalid);
  return withLock(join(datastoresDir(layout), '.lock'), async () => {
    const record = allocateDatastore(await listDatastores(layout), request);
    await records(layout).write(record);
    return record;
  });
}

/** Starts the datastore's server unless it runs, and returns its DataStore and Secret. */
export async function ensureDatastore(box: NodeBox, record: DatastoreRecord): Promise<LocalDatastoreObjects> {
  const { layout } = box;
  return serverFor(record.driver).ensure({
    box,
    record,
    dir: join(datastoresDir(layout), record.name),
    address: layout.network.nodeAddress,
    running: (await recordedPid(layout, datastoreProcess(record.name))) !== undefined,
    launch: (spec) => launchInBox(box, record.name, spec),
  });
}

/** Stops a datastore's server (its data stays). */
export function stopDatastore(layout: StateLayout, name: string): Promise<void> {
  return stopRecordedProcess(layout, datastoreProcess(name));
}

/**
 * `kamaji datastore add`: another server in the running instance's admin node, and its DataStore applied. A server
 * that fails to start is stopped and its directory removed, so nothing is left to clean.
 */
export async function addDatastore(
  layout: StateLayout,
  client: KubeClient,
  request: { name: string; driver: LocalDriver },
): Promise<{ record: DatastoreRecord; objects: LocalDatastoreObjects }> {
  const box = await existingNodeBox(layout);
  if (!box)
    throw new Error(`the local cluster in ${layout.root} is not up: "kamaji up --state-dir ${layout.root}" first`);
  serverFor(request.driver);
  const record = await claimDatastore(layout, request);
  try {
    const objects = await ensureDatastore(box, record);
    await applyDataStore(client, objects);
    return { record, objects };
  } catch (error) {
    await stopDatastore(layout, record.name);
    await rm(join(datastoresDir(layout), record.name), { recursive: true, force: true });
    throw error;
  }
}

/** The TCPs (namespace/name) whose spec or storage names the DataStore. */
export async function tenantsUsing(client: KubeClient, name: string): Promise<string[]> {
  const { items } = await client.request<{ items: TenantControlPlane[] }>(
    'GET',
    resourcePath(tenantControlPlaneResource),
  );
  return items
    .filter((tcp) => tcp.spec.dataStore === name || tcp.status?.storage?.dataStoreName === name)
    .map((tcp) => `${tcp.metadata.namespace}/${tcp.metadata.name}`);
}

/**
 * `kamaji datastore remove`: refused while a TCP uses it; otherwise its DataStore and Secret deleted, its server
 * stopped and its directory (its data) removed.
 */
export async function removeDatastore(layout: StateLayout, client: KubeClient, name: string): Promise<void> {
  const record = await readDatastore(layout, name);
  if (!record) throw new Error(`no datastore named ${name} in ${layout.root}: "kamaji datastore list" shows them`);
  if (name === DEFAULT_DATASTORE_NAME) {
    throw new Error(`${name} is the DataStore "kamaji up" started: "kamaji down --purge" removes it with the cluster`);
  }
  const dataStore = await readObject<DataStore>(client, dataStoreResource, { name });
  const users = [...new Set([...(await tenantsUsing(client, name)), ...(dataStore?.status?.usedBy ?? [])])];
  if (users.length > 0) {
    throw new Error(
      `DataStore ${name} holds TenantControlPlane(s) ${users.join(', ')}: delete them or move them to another ` +
        'DataStore (spec.dataStore) first',
    );
  }
  const deletions = [
    resourcePath(dataStoreResource, { name }),
    ...referencedSecrets(dataStore).map((secret) => resourcePath(builtinResources.secret, secret)),
  ];
  for (const path of deletions) {
    await client.request('DELETE', path).catch((error: unknown) => {
      if (!hasStatus(error, 404)) throw error;
    });
  }
  await stopDatastore(layout, name);
  await rm(join(datastoresDir(layout), name), { recursive: true, force: true });
}

/** The Secrets a DataStore's references point into (each once). */
export function referencedSecrets(dataStore: DataStore | undefined): { namespace: string; name: string }[] {
  const found = new Map<string, { namespace: string; name: string }>();
  const visit = (value: unknown): void => {
    if (typeof value !== 'object' || value === null) return;
    const reference = (value as { secretReference?: { name?: string; namespace?: string } }).secretReference;
    if (reference?.name) {
      const secret = { namespace: reference.namespace ?? KAMAJI_NAMESPACE, name: reference.name };
      found.set(`${secret.namespace}/${secret.name}`, secret);
    }
    for (const child of Object.values(value)) visit(child);
  };
  visit(dataStore?.spec);
  return [...found.values()];
}
