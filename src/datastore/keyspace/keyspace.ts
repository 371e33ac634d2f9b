import { join } from 'node:path';
import type { ResolvedDataStore } from '../connections.ts';
import type { TenantStorage } from '../driver.ts';
import { tenantKeyPrefix } from '../etcd/access.ts';
import { connectEtcd } from '../etcd/connection.ts';
import { kineStorageEndpoint } from '../kine-endpoint.ts';
import { NatsOperator } from '../nats/accounts.ts';
import { EtcdApiKeyspace } from './etcd-api.ts';
import { defaultKineBinary, startKineGateway } from './kine-gateway.ts';
import type { KeyspaceSnapshot, KeyValue, ReplaceResult } from './plan.ts';

export type { KeyspaceSnapshot, KeyValue, ReplaceResult } from './plan.ts';

/**
 * One tenant's keys (everything under `/<schema>/`, where its API server keeps its objects) on any DataStore, read
 * and written through etcd's API: etcd's own, or kine's in front of a SQL database. Migration and backup move a
 * tenant with it, whatever the drivers on either side.
 */
export interface TenantKeyspace {
  /** Every key of the tenant as it was at one revision. */
  snapshot(): Promise<KeyspaceSnapshot>;
  /** Makes the tenant's key space exactly `entries`; re-runnable, and refuses to overwrite a concurrent change. */
  replace(entries: readonly KeyValue[]): Promise<ReplaceResult>;
  count(): Promise<number>;
  close(): Promise<void>;
}

/** NATS: the tenant user's creds (its JWT and seed, derived from the operator seed) in the gateway's directory. */
const NATS_CREDENTIALS_FILE = 'nats.creds';

export interface KeyspaceOptions {
  /** The kine binary for SQL DataStores; see `defaultKineBinary`. */
  kineBinary?: string;
}

/**
 * Opens the tenant's key space. etcd is reached with the DataStore's root connection. A SQL or NATS DataStore is
 * reached through a private kine (see kine-gateway.ts) that logs in as the tenant's own user, so the table kine creates on
 * an empty database belongs to the tenant, as if its own control plane had made it; the storage's password is
 * needed for that (on NATS, the tenant's creds are derived from it and the operator seed).
 */
export async function openTenantKeyspace(
  dataStore: ResolvedDataStore,
  storage: TenantStorage,
  options: KeyspaceOptions = {},
): Promise<TenantKeyspace> {
  const prefix = tenantKeyPrefix(storage.schema);
  if (dataStore.kind === 'etcd') {
    const client = connectEtcd(dataStore.root);
    const keyspace = new EtcdApiKeyspace(client, prefix, {
      leaseSeconds: async (lease) => {
        const answer = await client.leaseClient.leaseTimeToLive({ ID: lease });
        return Number(answer.TTL);
      },
    });
    return bind(keyspace, async () => client.close());
  }
  if (!storage.password) throw new Error(`the ${dataStore.kind} key space of ${storage.schema} needs its password`);
  const { password } = storage;
  const address = dataStore.connection.endpoints[0];
  if (!address) throw new Error('spec.endpoints: the DataStore needs one host:port');
  const parts = { user: storage.username, password, address, database: storage.schema };
  const natsCredentials =
    dataStore.kind === 'NATS'
      ? new NatsOperator(dataStore.connection.operatorSeed).tenantCredentials(
          storage.schema,
          storage.username,
          password,
        )
      : undefined;
  const gateway = await startKineGateway({
    binary: options.kineBinary ?? defaultKineBinary(),
    endpoint: (dir) =>
      kineStorageEndpoint(dataStore.kind, {
        ...parts,
        ...(natsCredentials ? { credsFile: join(dir, NATS_CREDENTIALS_FILE) } : {}),
      }),
    ...(natsCredentials ? { files: { [NATS_CREDENTIALS_FILE]: natsCredentials } } : {}),
    datastoreCaPem: dataStore.connection.caCertificatePem,
  });
  // kine's lease ID is the lease's TTL in seconds (kine keeps no lease table).
  const keyspace = new EtcdApiKeyspace(gateway.client, prefix, { leaseSeconds: async (lease) => Number(lease) });
  return bind(keyspace, gateway.close);
}

function bind(keyspace: EtcdApiKeyspace, close: () => Promise<void>): TenantKeyspace {
  return {
    snapshot: () => keyspace.snapshot(),
    replace: (entries) => keyspace.replace(entries),
    count: () => keyspace.count(),
    close,
  };
}
