import type { Query } from '../sql/driver.ts';

export interface RoleState {
  /** pg_authid.rolpassword: the stored verifier, null when the role has no password. */
  password: string | null;
  /** The roles this role is a member of: a tenant role has none. */
  memberOf: string[];
}

/** A role as the catalog holds it, or undefined when there is none. Reads pg_authid: the DataStore user is a superuser. */
export async function roleState(query: Query, role: string): Promise<RoleState | undefined> {
  const rows = await query(
    `SELECT r.rolpassword AS password,
            ARRAY(SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                   WHERE m.member = r.oid ORDER BY g.rolname)::text[] AS member_of
       FROM pg_authid r WHERE r.rolname = $1`,
    [role],
  );
  const row = rows[0] as { password: string | null; member_of: string[] } | undefined;
  return row && { password: row.password, memberOf: row.member_of };
}

/** The owner of a database, or undefined when there is no such database. */
export async function databaseOwner(query: Query, database: string): Promise<string | undefined> {
  const rows = await query('SELECT pg_get_userbyid(datdba) AS owner FROM pg_database WHERE datname = $1', [database]);
  return (rows[0] as { owner: string } | undefined)?.owner;
}

/** Ends every session of a role (its database may be shared with nobody, but a session could be anywhere). */
export async function terminateSessions(query: Query, role: string): Promise<void> {
  await query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1', [role]);
}

/** PostgreSQL's SQLSTATE for "that already exists" (a concurrent creation won). */
export function alreadyExists(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === '42P04' || code === '42710' || code === '42P07' || code === '23505';
}
