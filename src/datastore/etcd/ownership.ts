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

export interface IdentityRecords {
  /** True when this call wrote both records (everything was free). */
  claimed: boolean;
  schema: IdentityRecord;
  user: IdentityRecord;
  /** How many keys the schema's prefix holds. */
  keysUnderPrefix: number;
}

/**
 * In one transaction: when `claimWith` is given and both records are absent and the prefix holds no key, writes
 * both records; otherwise reads them and counts the prefix's keys (one revision either way).
 */
export async function claimOrReadIdentity(
  client: Etcd3,
  keys: { schema: string; user: string; prefix: string },
  claimWith: string | undefined,
): Promise<IdentityRecords> {
  const prefix = Range.prefix(keys.prefix);
  const reads = [
    { request_range: { key: Buffer.from(keys.schema) } },
    { request_range: { key: Buffer.from(keys.user) } },
    { request_range: { key: prefix.start, range_end: prefix.end, count_only: true } },
  ];
  const absent = (key: Buffer, rangeEnd?: Buffer) => ({
    key,
    ...(rangeEnd ? { range_end: rangeEnd } : {}),
    target: 'Create' as const,
    result: 'Equal' as const,
    create_revision: 0,
  });
  const response = await client.kv.txn({
    // Over a range, etcd compares every key in it; an empty range compares as a key that does not exist.
    compare: claimWith
      ? [absent(Buffer.from(keys.schema)), absent(Buffer.from(keys.user)), absent(prefix.start, prefix.end)]
      : [],
    success: claimWith
      ? [keys.schema, keys.user].map((key) => ({
          request_put: { key: Buffer.from(key), value: Buffer.from(claimWith) },
        }))
      : reads,
    failure: reads,
  });
  if (claimWith && response.succeeded) {
    return {
      claimed: true,
      schema: { field: 'spec.dataStoreSchema', key: keys.schema, value: claimWith },
      user: { field: 'spec.dataStoreUsername', key: keys.user, value: claimWith },
      keysUnderPrefix: 0,
    };
  }
  const valueAt = (index: number) => response.responses[index]?.response_range?.kvs[0]?.value.toString();
  return {
    claimed: false,
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
