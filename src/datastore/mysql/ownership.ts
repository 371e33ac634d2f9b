import type mysql from 'mysql2/promise';
import type { OwnershipRefusal, TenantOwner } from '../driver.ts';
import {
  type IdentityRecord,
  identitiesFrom,
  type OwnerRow,
  type TenantIdentities,
  type TenantNames,
} from '../sql/identity.ts';

/** Serialises claims on one DataStore (several operators, or a reconcile racing a deletion). */
const CLAIM_LOCK = 'kamaji.clastix.io/owners';
const CLAIM_LOCK_TIMEOUT_S = 10;

export type Queryable = mysql.Pool | mysql.Connection | mysql.PoolConnection;

export async function readRecords(client: Queryable, names: TenantNames): Promise<TenantIdentities> {
  const [rows] = await client.query<(OwnerRow & mysql.RowDataPacket)[]>(
    `SELECT kind, name, uid, namespace, tenant FROM owners
      WHERE (kind = 'database' AND name = ?) OR (kind = 'user' AND name = ?)`,
    [names.database, names.user],
  );
  return identitiesFrom(rows, names);
}

/**
 * In one transaction, under the DataStore's claim lock (GET_LOCK): reads the records, lets `decide` look at them
 * and at the server, and writes the records it names. Nothing is created or granted until this has committed.
 */
export async function claimInTransaction(
  pool: mysql.Pool,
  names: TenantNames,
  owner: TenantOwner,
  decide: (records: TenantIdentities, client: Queryable) => Promise<OwnershipRefusal | IdentityRecord[]>,
): Promise<OwnershipRefusal | undefined> {
  const client = await pool.getConnection();
  try {
    const [locked] = await client.query<mysql.RowDataPacket[]>('SELECT GET_LOCK(?, ?) AS locked', [
      CLAIM_LOCK,
      CLAIM_LOCK_TIMEOUT_S,
    ]);
    if (locked[0]?.locked !== 1) throw new Error(`the owners lock stayed taken for ${CLAIM_LOCK_TIMEOUT_S}s`);
    try {
      await client.beginTransaction();
      const decision = await decide(await readRecords(client, names), client);
      if (!Array.isArray(decision)) {
        await client.rollback();
        return decision;
      }
      for (const record of decision) {
        await client.query('INSERT INTO owners (kind, name, uid, namespace, tenant) VALUES (?, ?, ?, ?, ?)', [
          record.kind,
          record.name,
          owner.uid,
          owner.namespace,
          owner.name,
        ]);
      }
      await client.commit();
      return undefined;
    } catch (error) {
      await client.rollback().catch(() => undefined);
      throw error;
    } finally {
      await client.query('SELECT RELEASE_LOCK(?)', [CLAIM_LOCK]);
    }
  } finally {
    client.release();
  }
}

/** Deletes an owner record only while it still names `owner`. */
export async function releaseRecord(pool: mysql.Pool, record: IdentityRecord, owner: TenantOwner): Promise<void> {
  await pool.query('DELETE FROM owners WHERE kind = ? AND name = ? AND uid = ?', [record.kind, record.name, owner.uid]);
}
