import type pg from 'pg';
import type { OwnershipRefusal, TenantOwner } from '../driver.ts';
import {
  type IdentityRecord,
  identitiesFrom,
  type OwnerRow,
  type TenantIdentities,
  type TenantNames,
} from '../sql/identity.ts';
import type { Queryable } from './catalog.ts';

/** The owner records, in the DataStore's `kamaji` database (src/datastore/sql/identity.ts). */
export const OWNERS_TABLE = `CREATE TABLE IF NOT EXISTS owners (
  kind text NOT NULL CHECK (kind IN ('database', 'user')),
  name text NOT NULL,
  uid text NOT NULL,
  namespace text NOT NULL,
  tenant text NOT NULL,
  PRIMARY KEY (kind, name)
)`;

/** Serialises claims on one DataStore (several operators, or a reconcile racing a deletion). */
const CLAIM_LOCK = "SELECT pg_advisory_xact_lock(hashtext('kamaji.clastix.io/owners'))";

export async function readRecords(client: Queryable, names: TenantNames): Promise<TenantIdentities> {
  const { rows } = await client.query<OwnerRow>(
    `SELECT kind, name, uid, namespace, tenant FROM owners
      WHERE (kind = 'database' AND name = $1) OR (kind = 'user' AND name = $2)`,
    [names.database, names.user],
  );
  return identitiesFrom(rows, names);
}

/**
 * In one transaction, under the DataStore's claim lock: reads the records, lets `decide` look at them and at the
 * server (refusing, or naming the records to write), and writes those records. Nothing is created or granted until
 * this has committed, so a crash leaves at worst a record its owner completes on the next pass.
 */
export async function claimInTransaction(
  pool: pg.Pool,
  names: TenantNames,
  owner: TenantOwner,
  decide: (records: TenantIdentities, client: pg.ClientBase) => Promise<OwnershipRefusal | IdentityRecord[]>,
): Promise<OwnershipRefusal | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(CLAIM_LOCK);
    const decision = await decide(await readRecords(client, names), client);
    if (!Array.isArray(decision)) {
      await client.query('ROLLBACK');
      return decision;
    }
    for (const record of decision) {
      await client.query('INSERT INTO owners (kind, name, uid, namespace, tenant) VALUES ($1, $2, $3, $4, $5)', [
        record.kind,
        record.name,
        owner.uid,
        owner.namespace,
        owner.name,
      ]);
    }
    await client.query('COMMIT');
    return undefined;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

/** Deletes an owner record only while it still names `owner`. */
export async function releaseRecord(pool: pg.Pool, record: IdentityRecord, owner: TenantOwner): Promise<void> {
  await pool.query('DELETE FROM owners WHERE kind = $1 AND name = $2 AND uid = $3', [
    record.kind,
    record.name,
    owner.uid,
  ]);
}
