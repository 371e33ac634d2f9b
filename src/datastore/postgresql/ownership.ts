import type pg from 'pg';
import type { IdentityField, OwnershipRefusal, TenantOwner } from '../driver.ts';
import type { Queryable } from './catalog.ts';

/**
 * Owner records: which TenantControlPlane (by UID) a database and a role belong to, kept in a database of the
 * DataStore's own (`kamaji`) that no tenant may connect to. Databases and roles are separate name spaces in
 * PostgreSQL, so a record is keyed by its kind and name.
 */
export const OWNERS_DATABASE = 'kamaji';

export type IdentityKind = 'database' | 'role';

export const OWNERS_TABLE = `CREATE TABLE IF NOT EXISTS owners (
  kind text NOT NULL CHECK (kind IN ('database', 'role')),
  name text NOT NULL,
  uid text NOT NULL,
  namespace text NOT NULL,
  tenant text NOT NULL,
  PRIMARY KEY (kind, name)
)`;

/** Serialises claims on one DataStore (several operators, or a reconcile racing a deletion). */
const CLAIM_LOCK = "pg_advisory_xact_lock(hashtext('kamaji.clastix.io/owners'))";

export interface IdentityRecord {
  field: IdentityField;
  kind: IdentityKind;
  name: string;
  /** The recorded owner, undefined when nobody owns it. */
  owner: TenantOwner | undefined;
}

export function isMine(record: IdentityRecord, owner: TenantOwner): boolean {
  return record.owner?.uid === owner.uid;
}

/** A refusal when the record names another owner. */
export function foreignOwner(record: IdentityRecord, owner: TenantOwner): OwnershipRefusal | undefined {
  if (record.owner === undefined || isMine(record, owner)) return undefined;
  return { reason: 'OwnedByAnotherTenant', field: record.field, owner: record.owner };
}

export interface TenantIdentities {
  database: IdentityRecord;
  role: IdentityRecord;
}

interface OwnerRow {
  kind: IdentityKind;
  name: string;
  uid: string;
  namespace: string;
  tenant: string;
}

export async function readRecords(
  client: Queryable,
  names: { database: string; role: string },
): Promise<TenantIdentities> {
  const { rows } = await client.query<OwnerRow>(
    `SELECT kind, name, uid, namespace, tenant FROM owners
      WHERE (kind = 'database' AND name = $1) OR (kind = 'role' AND name = $2)`,
    [names.database, names.role],
  );
  const ownerOf = (kind: IdentityKind): TenantOwner | undefined => {
    const row = rows.find((candidate) => candidate.kind === kind);
    return row && { uid: row.uid, namespace: row.namespace, name: row.tenant };
  };
  return {
    database: { field: 'spec.dataStoreSchema', kind: 'database', name: names.database, owner: ownerOf('database') },
    role: { field: 'spec.dataStoreUsername', kind: 'role', name: names.role, owner: ownerOf('role') },
  };
}

/**
 * In one transaction, under the DataStore's claim lock: reads the records, lets `decide` look at them and at the
 * server (refusing, or naming the records to write), and writes those records. Nothing is created or granted until
 * this has committed, so a crash leaves at worst a record its owner completes on the next pass.
 */
export async function claimInTransaction(
  pool: pg.Pool,
  names: { database: string; role: string },
  owner: TenantOwner,
  decide: (records: TenantIdentities, client: pg.ClientBase) => Promise<OwnershipRefusal | IdentityRecord[]>,
): Promise<OwnershipRefusal | undefined> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query(`SELECT ${CLAIM_LOCK}`);
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
