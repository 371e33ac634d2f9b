import { type Etcd3, Range } from 'etcd3';
import type { IdentityField, OwnershipRefusal, TenantOwner } from '../driver.ts';

/**
 * Owner records: which TenantControlPlane (by UID) a schema and a user belong to, kept in the shared etcd itself.
 * Their prefix holds a `.`, which a tenant schema (`^[a-z0-9_]+$`) cannot, so no tenant's range ever covers them.
 */
const OWNERS_PREFIX = '/kamaji.clastix.io/owners/';

export function schemaRecordKey(schema: string): string {
  return `${OWNERS_PREFIX}schemas/${schema}`;
}

export function userRecordKey(username: string): string {
  return `${OWNERS_PREFIX}users/${username}`;
}

/** The record's bytes for an owner: deterministic, so that "ours" is a plain value comparison in a transaction. */
export function ownerRecord(owner: TenantOwner): string {
  return JSON.stringify({ uid: owner.uid, namespace: owner.namespace, name: owner.name });
}

export interface IdentityRecord {
  field: IdentityField;
  key: string;
  /** The stored record, undefined when nobody owns it. */
  value: string | undefined;
}

/** Both owner records of a tenant's identity, and how many keys its prefix holds, read at one revision. */
export async function readIdentityRecords(
  client: Etcd3,
  keys: { schema: string; user: string; prefix: string },
): Promise<{ schema: IdentityRecord; user: IdentityRecord; keysUnderPrefix: number }> {
  const prefix = Range.prefix(keys.prefix);
  const response = await client
    .if(keys.schema, 'Version', '>', -1)
    .then(client.get(keys.schema), client.get(keys.user), {
      request_range: { key: prefix.start, range_end: prefix.end, count_only: true },
    })
    .commit();
  const valueAt = (index: number) => response.responses[index]?.response_range?.kvs[0]?.value.toString();
  return {
    schema: { field: 'spec.dataStoreSchema', key: keys.schema, value: valueAt(0) },
    user: { field: 'spec.dataStoreUsername', key: keys.user, value: valueAt(1) },
    keysUnderPrefix: Number(response.responses[2]?.response_range?.count ?? 0),
  };
}

/** A refusal when the record names another owner. */
export function foreignOwner(record: IdentityRecord, mine: string): OwnershipRefusal | undefined {
  if (record.value === undefined || record.value === mine) return undefined;
  let owner: TenantOwner;
  try {
    owner = JSON.parse(record.value) as TenantOwner;
  } catch {
    owner = { uid: '', namespace: '?', name: '?' };
  }
  return { reason: 'OwnedByAnotherTenant', field: record.field, owner };
}

/**
 * Writes the owner record for each of `keys`, all or none, and only where none exists yet. Returns false when
 * another claim won a race meanwhile (the caller reads again and finds who).
 */
export async function claimRecords(client: Etcd3, keys: readonly string[], record: string): Promise<boolean> {
  if (keys.length === 0) return true;
  const [first, ...rest] = keys as [string, ...string[]];
  let transaction = client.if(first, 'Create', '==', 0);
  for (const key of rest) transaction = transaction.and(key, 'Create', '==', 0);
  const response = await transaction.then(...keys.map((key) => client.put(key).value(record))).commit();
  return response.succeeded;
}

/** Deletes an owner record only while it still holds `record`. */
export async function releaseRecord(client: Etcd3, key: string, record: string): Promise<void> {
  await client.if(key, 'Value', '==', record).then(client.delete().key(key)).commit();
}
