import type { IdentityField, OwnershipRefusal, TenantOwner } from '../driver.ts';

/**
 * What SQL DataStores (PostgreSQL, MySQL) share about tenant identities: a tenant is a database and a user, both
 * recorded as its own (by UID) in an owners table of the DataStore before anything is created. Databases and users
 * are separate name spaces in SQL servers, so a record is keyed by its kind and name.
 */

/** The database of the DataStore that holds the owner records; no tenant may connect to it or be named like it. */
export const OWNERS_DATABASE = 'kamaji';

export type IdentityKind = 'database' | 'user';

/** An owners table row. */
export interface OwnerRow {
  kind: IdentityKind;
  name: string;
  uid: string;
  namespace: string;
  tenant: string;
}

export interface IdentityRecord {
  field: IdentityField;
  kind: IdentityKind;
  name: string;
  /** The recorded owner, undefined when nobody owns it. */
  owner: TenantOwner | undefined;
}

export interface TenantIdentities {
  database: IdentityRecord;
  user: IdentityRecord;
}

export interface TenantNames {
  database: string;
  user: string;
}

/** The two records of a tenant out of the owners rows read for its names. */
export function identitiesFrom(rows: readonly OwnerRow[], names: TenantNames): TenantIdentities {
  const ownerOf = (kind: IdentityKind): TenantOwner | undefined => {
    const row = rows.find((candidate) => candidate.kind === kind && candidate.name === names[kind]);
    return row && { uid: row.uid, namespace: row.namespace, name: row.tenant };
  };
  return {
    database: { field: 'spec.dataStoreSchema', kind: 'database', name: names.database, owner: ownerOf('database') },
    user: { field: 'spec.dataStoreUsername', kind: 'user', name: names.user, owner: ownerOf('user') },
  };
}

export function isMine(record: IdentityRecord, owner: TenantOwner): boolean {
  return record.owner?.uid === owner.uid;
}

/** The fields whose record names another owner: what a deletion leaves alone. */
export function notOwnedFields(identities: TenantIdentities, owner: TenantOwner): IdentityField[] {
  return [identities.user, identities.database]
    .filter((record) => record.owner !== undefined && !isMine(record, owner))
    .map((record) => record.field);
}

/** What the server holds under a tenant's names, looked at while the claim is held. */
export interface FoundIdentities {
  databaseExists: boolean;
  userExists: boolean;
  /** Why the user holds more than its own database (a role, a grant elsewhere), when it does. */
  userExtended?: string;
}

/**
 * Whether `owner` may have these identities: a refusal, or the records still to write (none when both are its
 * own already). Another owner's record, then anything existing without a record, then a user someone extended.
 */
export function decideClaim(
  identities: TenantIdentities,
  owner: TenantOwner,
  found: FoundIdentities,
): OwnershipRefusal | IdentityRecord[] {
  for (const record of [identities.database, identities.user]) {
    if (record.owner !== undefined && !isMine(record, owner)) {
      return { reason: 'OwnedByAnotherTenant', field: record.field, owner: record.owner };
    }
  }
  if (identities.database.owner === undefined && found.databaseExists) {
    return outside('spec.dataStoreSchema', `database ${identities.database.name} exists and was not created by Kamaji`);
  }
  if (identities.user.owner === undefined && found.userExists) {
    return outside('spec.dataStoreUsername', `user ${identities.user.name} exists and was not created by Kamaji`);
  }
  // Never extend: a tenant user that holds anything beyond its database was changed by someone, who must undo it.
  if (found.userExtended) return outside('spec.dataStoreUsername', found.userExtended);
  return [identities.database, identities.user].filter((record) => record.owner === undefined);
}

function outside(field: IdentityField, detail: string): OwnershipRefusal {
  return { reason: 'ExistsOutsideKamaji', field, detail };
}

/** The refusal for a name the server keeps for itself, or undefined. */
export function reservedName(
  names: TenantNames,
  reserved: { databases: ReadonlySet<string>; users: ReadonlySet<string>; userPrefixes?: readonly string[] },
  server: string,
): OwnershipRefusal | undefined {
  if (reserved.databases.has(names.database)) {
    return {
      reason: 'ReservedName',
      field: 'spec.dataStoreSchema',
      detail: `database ${names.database} is reserved by this ${server} DataStore`,
    };
  }
  if (reserved.users.has(names.user) || reserved.userPrefixes?.some((prefix) => names.user.startsWith(prefix))) {
    return {
      reason: 'ReservedName',
      field: 'spec.dataStoreUsername',
      detail: `user ${names.user} is reserved by this ${server} DataStore`,
    };
  }
  return undefined;
}

/** A SQL tenant authenticates by password: the driver needs it to set it. */
export function requirePassword(password: string | undefined, user: string, server: string): string {
  if (!password) throw new Error(`${server} DataStore: tenant user ${user} needs a password (none was given)`);
  return password;
}
