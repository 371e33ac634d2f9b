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

  async ensureTenant(storage: TenantStorage): Promise<void> {
    await grantPrefixAccess(this.client, storage.username, tenantKeyPrefix(storage.schema));
  }

  async deleteTenant(storage: TenantStorage): Promise<{ deletedKeys: number }> {
    // Revoke first: a tenant API server still running cannot write new keys while the old ones are deleted.
    await revokeAccess(this.client, storage.username);
    const deletedKeys = await deletePrefix(this.client, tenantKeyPrefix(storage.schema));
    return { deletedKeys };
  }

  close(): void {
    this.client.close();
  }
}
