import type { V1Secret } from '@kubernetes/client-node';
import type { DataStore, DataStoreDriver } from '../../api/v1alpha1/datastore.ts';
import type { ProcessSpec, SupervisedProcess } from '../../process/supervisor.ts';
import type { NodeBox } from '../node-box.ts';

/** The drivers `kamaji up --datastore` and `kamaji datastore add` take, as users type them. */
export const LOCAL_DRIVERS = ['etcd', 'postgresql', 'mysql', 'nats'] as const;
export type LocalDriver = (typeof LOCAL_DRIVERS)[number];

/** One datastore server of a local instance, kept in `<state>/datastores/<name>/datastore.json`. */
export interface DatastoreRecord {
  /** The DataStore's name (`default` for the one `up` starts). */
  name: string;
  /** Order of creation. */
  index: number;
  driver: LocalDriver;
  /** Its client port on the admin node's address. */
  port: number;
}

/** What the admin cluster gets for a local datastore: its DataStore and the Secret its references point into. */
export interface LocalDatastoreObjects {
  secret: V1Secret;
  dataStore: DataStore;
}

export interface LocalDatastoreContext {
  box: NodeBox;
  record: DatastoreRecord;
  /** Its directory in the state dir (root only): certificates, credentials, and the server's own directory. */
  dir: string;
  /** The admin node's address, which tenant pods, the manager and the host all reach. */
  address: string;
  /** Its process runs already (an earlier `up` or `datastore add` started it): only the objects are wanted. */
  running: boolean;
  /**
   * Starts its process inside the admin node's box, in a session of its own (it outlives the command that started
   * it, `datastore add` included), with a pid file and a log file named after the datastore.
   */
  launch(spec: Omit<ProcessSpec, 'logFile'>): Promise<SupervisedProcess>;
}

/**
 * A kind of local datastore server (src/cluster/datastores/<driver>.ts). It runs in the admin node's network box on
 * the node address, TLS and authentication on, its data under the state dir.
 */
export interface LocalDatastoreServer {
  /** The DataStore's `spec.driver`. */
  driver: DataStoreDriver;
  /** What it is, for `up`'s steps and `datastore list`: e.g. "PostgreSQL 15 (TLS, scram-sha-256)". */
  description: string;
  /** The first one's port; the next ones of the same driver take the following free ports. */
  firstPort: number;
  /**
   * Starts the server unless `context.running` (the first start creates its certificates, credentials and data),
   * waits until it answers, and returns its DataStore and Secret. Run again, it returns the same objects.
   */
  ensure(context: LocalDatastoreContext): Promise<LocalDatastoreObjects>;
}
