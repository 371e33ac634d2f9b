import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import type { DatastoreDriver, TenantStorage } from '../driver.ts';
import { deletePrefix, grantPrefixAccess, revokeAccess, tenantKeyPrefix } from './access.ts';
import { connectEtcd, type EtcdConnection } from './connection.ts';

/** A shared etcd where each tenant is a certificate-only user whose role covers `/<schema>/` and nothing else. */
export class EtcdDriver implements DatastoreDriver {
  private readonly client: Etcd3;
  private readonly endpoints: readonly string[];

  constructor(root: EtcdConnection) {
    this.client = connectEtcd(root);
    this.endpoints = root.endpoints;
  }

  async check(): Promise<void> {
    try {
      await this.client.maintenance.status();
    } catch (error) {
      throw new Error(`etcd at ${this.endpoints.join(', ')} is unreachable: ${(error as Error).message}`);
    }
  }

  ensureTenant(storage: TenantStorage): Promise<void> {
    return retryOnStaleAuth(() => grantPrefixAccess(this.client, storage.username, tenantKeyPrefix(storage.schema)));
  }

  deleteTenant(storage: TenantStorage): Promise<{ deletedKeys: number }> {
    return retryOnStaleAuth(async () => {
      // Revoke first: a tenant API server still running cannot write new keys while the old ones are deleted.
      await revokeAccess(this.client, storage.username);
      return { deletedKeys: await deletePrefix(this.client, tenantKeyPrefix(storage.schema)) };
    });
  }

  close(): void {
    this.client.close();
  }
}

const STALE_AUTH_ATTEMPTS = 8;

/**
 * etcd refuses a request checked against an auth revision that changed meanwhile ("revision of auth store is
 * old"), which happens whenever tenants are granted or revoked at the same time; etcd's own Go client retries it.
 * Every step here is idempotent, so the whole operation is simply run again.
 */
async function retryOnStaleAuth<T>(operation: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await operation();
    } catch (error) {
      if (attempt >= STALE_AUTH_ATTEMPTS || !/revision of auth store is old/.test((error as Error).message))
        throw error;
      await sleep(10 * attempt);
    }
  }
}
