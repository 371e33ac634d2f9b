/** A tenant's place in a shared datastore: its key space (schema) and the user that alone may use it. */
export interface TenantStorage {
  schema: string;
  username: string;
}

/**
 * What the tenant pipeline needs from a datastore backend. Every method is idempotent, so a reconcile that was
 * interrupted at any point can simply run again.
 */
export interface DatastoreDriver {
  /** Fails with a message naming the endpoints when the datastore cannot be reached. */
  check(): Promise<void>;
  /** Creates the tenant's user and grants it exactly its own key space. */
  ensureTenant(storage: TenantStorage): Promise<void>;
  /** Revokes the tenant's access, deletes every key in its key space, and deletes its user. */
  deleteTenant(storage: TenantStorage): Promise<{ deletedKeys: number }>;
  close(): void;
}
