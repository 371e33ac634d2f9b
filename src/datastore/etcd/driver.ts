import { X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Etcd3 } from 'etcd3';
import type {
  DatastoreDriver,
  DeletedTenant,
  IdentityField,
  Ownership,
  TenantOwner,
  TenantStorage,
} from '../driver.ts';
import {
  deletePrefix,
  grantPrefixAccess,
  prefixPermission,
  revokeAccess,
  rolePermissions,
  samePermission,
  tenantKeyPrefix,
  userRoles,
} from './access.ts';
import { connectEtcd, type EtcdConnection } from './connection.ts';
import {
  claimOrReadIdentity,
  claimRecords,
  foreignOwner,
  ownerRecord,
  releaseRecord,
  schemaRecordKey,
  userRecordKey,
} from './ownership.ts';

/** etcd's superuser; with client-certificate auth, a certificate with this CN is root. */
const ETCD_ROOT_USER = 'root';

/** How long a reachability check waits for etcd's answer. */
const CHECK_TIMEOUT_MS = 3_000;

/** How often a claim that lost a race is read again before giving up (the next reconcile tries again). */
const CLAIM_ATTEMPTS = 3;

/**
 * A shared etcd where each tenant is a certificate-only user whose role covers `/<schema>/` and nothing else, and
 * whose schema and user are recorded as the tenant's before anything is granted.
 */
export class EtcdDriver implements DatastoreDriver {
  private readonly client: Etcd3;
  private readonly endpoints: readonly string[];
  /** Users no tenant may be: etcd's root and the user this DataStore itself connects as. */
  private readonly reservedUsers: ReadonlySet<string>;

  constructor(root: EtcdConnection) {
    this.client = connectEtcd(root);
    this.endpoints = root.endpoints;
    this.reservedUsers = new Set([ETCD_ROOT_USER, ...commonName(root.clientCertificatePem)]);
  }

  async check(): Promise<void> {
    try {
      // A short deadline: an etcd that hangs (stopped, partitioned) is reported as quickly as one that refuses.
      await this.client.maintenance.status({ deadline: Date.now() + CHECK_TIMEOUT_MS });
    } catch (error) {
      throw new Error(`etcd at ${this.endpoints.join(', ')} is unreachable: ${(error as Error).message}`);
    }
  }

  ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership> {
    if (this.reservedUsers.has(storage.username)) {
      return Promise.resolve({
        reason: 'ReservedName',
        field: 'spec.dataStoreUsername',
        detail: `${storage.username} is reserved by this etcd DataStore`,
      });
    }
    return retryOnStaleAuth(() => this.claimAndGrant(storage, owner, CLAIM_ATTEMPTS));
  }

  private async claimAndGrant(storage: TenantStorage, owner: TenantOwner, attempts: number): Promise<Ownership> {
    const mine = ownerRecord(owner);
    const prefix = tenantKeyPrefix(storage.schema);
    const [roles, permissions] = await Promise.all([
      userRoles(this.client, storage.username),
      rolePermissions(this.client, storage.username),
    ]);
    // A new tenant (no user, no role yet) claims both records in the same call that would otherwise read them.
    const free = roles === undefined && permissions === undefined;
    const keys = { schema: schemaRecordKey(storage.schema), user: userRecordKey(storage.username), prefix };
    const records = await claimOrReadIdentity(this.client, keys, free ? mine : undefined);
    if (records.claimed) {
      await grantPrefixAccess(this.client, storage.username, prefix, { roles, permissions });
      return undefined;
    }
    const taken = foreignOwner(records.schema, mine) ?? foreignOwner(records.user, mine);
    if (taken) return taken;
    const outside = (field: IdentityField, detail: string): Ownership => ({
      reason: 'ExistsOutsideKamaji',
      field,
      detail,
    });
    if (records.schema.value === undefined && records.keysUnderPrefix > 0) {
      return outside('spec.dataStoreSchema', `${records.keysUnderPrefix} keys under ${prefix} belong to no tenant`);
    }
    if (records.user.value === undefined && roles) {
      return outside('spec.dataStoreUsername', `etcd user ${storage.username} exists and was not created by Kamaji`);
    }
    if (records.user.value === undefined && permissions) {
      return outside('spec.dataStoreUsername', `etcd role ${storage.username} exists and was not created by Kamaji`);
    }
    // Never extend: a user or role holding anything beyond the tenant's own grant was changed by someone else.
    if (roles?.some((role) => role !== storage.username)) {
      return outside('spec.dataStoreUsername', `etcd user ${storage.username} holds other roles: ${roles.join(', ')}`);
    }
    if (permissions?.some((permission) => !samePermission(permission, prefixPermission(prefix)))) {
      return outside('spec.dataStoreUsername', `etcd role ${storage.username} grants more than ${prefix}`);
    }
    const unclaimed = [records.schema, records.user].filter((record) => record.value === undefined);
    if (!(await claimRecords(this.client, [...new Set(unclaimed.map((record) => record.key))], mine))) {
      if (attempts <= 1) throw new Error(`claiming ${prefix} and user ${storage.username} kept losing races`);
      return this.claimAndGrant(storage, owner, attempts - 1);
    }
    await grantPrefixAccess(this.client, storage.username, prefix, { roles, permissions });
    return undefined;
  }

  deleteTenant(storage: TenantStorage, owner: TenantOwner): Promise<DeletedTenant> {
    return retryOnStaleAuth(async () => {
      const mine = ownerRecord(owner);
      const keys = {
        schema: schemaRecordKey(storage.schema),
        user: userRecordKey(storage.username),
        prefix: tenantKeyPrefix(storage.schema),
      };
      const records = await claimOrReadIdentity(this.client, keys, undefined);
      const notOwned = [records.user, records.schema]
        .filter((record) => record.value !== undefined && record.value !== mine)
        .map((record) => record.field);
      // Revoke first: a tenant API server still running cannot write new keys while the old ones are deleted.
      if (records.user.value === mine) {
        await revokeAccess(this.client, storage.username);
        await releaseRecord(this.client, records.user.key, mine);
      }
      let deletedKeys = 0;
      if (records.schema.value === mine) {
        deletedKeys = await deletePrefix(this.client, tenantKeyPrefix(storage.schema));
        await releaseRecord(this.client, records.schema.key, mine);
      }
      return { deletedKeys, notOwned };
    });
  }

  close(): void {
    this.client.close();
  }
}

/** The CN of a client certificate: the etcd user it authenticates as. */
function commonName(certificatePem: string | undefined): string[] {
  if (!certificatePem) return [];
  const subject = new X509Certificate(certificatePem).subject;
  return subject
    .split('\n')
    .filter((line) => line.startsWith('CN='))
    .map((line) => line.slice(3));
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
