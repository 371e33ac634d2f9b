/** A tenant's place in a shared datastore: its key space (schema) and the user that alone may use it. */
export interface TenantStorage {
  schema: string;
  username: string;
  /**
   * The user's password, for backends that authenticate tenants by password (PostgreSQL, MySQL): required there,
   * and set or repaired on every ensureTenant. etcd ignores it (its tenants use client certificates).
   */
  password?: string;
}

/** The TenantControlPlane a schema or user belongs to. The UID decides; namespace and name are for messages. */
export interface TenantOwner {
  uid: string;
  namespace: string;
  name: string;
}

/** Which of a TCP's fields names the identity a refusal is about. */
export type IdentityField = 'spec.dataStoreSchema' | 'spec.dataStoreUsername';

export type OwnershipRefusal =
  /** Recorded in the datastore as belonging to another TenantControlPlane. */
  | { reason: 'OwnedByAnotherTenant'; field: IdentityField; owner: TenantOwner }
  /** A name the backend keeps for itself (etcd's `root`, the DataStore's own user). */
  | { reason: 'ReservedName'; field: IdentityField; detail: string }
  /** Exists in the datastore (keys, a user, a role) without a Kamaji owner record: never taken over. */
  | { reason: 'ExistsOutsideKamaji'; field: IdentityField; detail: string };

/** The outcome of claiming or checking a tenant's identity: `undefined` when it is this tenant's. */
export type Ownership = OwnershipRefusal | undefined;

export interface DeletedTenant {
  deletedKeys: number;
  /** Identities left alone because this tenant does not own them. */
  notOwned: IdentityField[];
}

/**
 * What the tenant pipeline needs from a datastore backend. Every method is idempotent, so a reconcile that was
 * interrupted at any point can simply run again. Ownership is recorded in the datastore itself, so that it holds
 * whatever the Kubernetes objects say: a hostile or deleted TCP never reaches what it does not own.
 */
export interface DatastoreDriver {
  /** Fails with a message naming the endpoints when the datastore cannot be reached. */
  check(): Promise<void>;
  /**
   * Claims the schema and the user for `owner` (atomically, when free) and grants the user exactly its own key
   * space; re-run, it verifies the grant and repairs what is missing. Refuses, changing nothing, when either
   * identity belongs to someone else or to the backend; an existing grant is never extended.
   */
  ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership>;
  /** Revokes the user, deletes every key of the schema and the owner records: only what `owner` owns. */
  deleteTenant(storage: TenantStorage, owner: TenantOwner): Promise<DeletedTenant>;
  close(): void;
}
