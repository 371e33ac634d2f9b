import { escapeIdentifier, escapeLiteral } from 'pg';

/**
 * The SQL a tenant's identity is made and unmade with. DDL takes no parameters, so every name is quoted with
 * `pg`'s escapeIdentifier and every value with escapeLiteral; catalog reads elsewhere use parameters.
 */

/** Everything a tenant role is not: it may log in, and nothing else of the cluster's. */
const TENANT_ROLE_ATTRIBUTES = 'LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT';

export function createRole(role: string, verifier: string): string {
  return `CREATE ROLE ${escapeIdentifier(role)} WITH ${TENANT_ROLE_ATTRIBUTES} PASSWORD ${escapeLiteral(verifier)}`;
}

/** Puts the attributes back to a tenant's (repairing any change) and, when given, sets the password. */
export function alterRole(role: string, verifier: string | undefined): string {
  const password = verifier === undefined ? '' : ` PASSWORD ${escapeLiteral(verifier)}`;
  return `ALTER ROLE ${escapeIdentifier(role)} WITH ${TENANT_ROLE_ATTRIBUTES}${password}`;
}

/** Refuses new logins at once, before a role's connections are ended and it is dropped. */
export function disableLogin(role: string): string {
  return `ALTER ROLE ${escapeIdentifier(role)} WITH NOLOGIN`;
}

export function dropRole(role: string): string {
  return `DROP ROLE IF EXISTS ${escapeIdentifier(role)}`;
}

/** Owned by the tenant's role: since PostgreSQL 15 that makes it the owner of the `public` schema kine uses. */
export function createDatabase(database: string, owner: string): string {
  return `CREATE DATABASE ${escapeIdentifier(database)} WITH OWNER ${escapeIdentifier(owner)}`;
}

export function setDatabaseOwner(database: string, owner: string): string {
  return `ALTER DATABASE ${escapeIdentifier(database)} OWNER TO ${escapeIdentifier(owner)}`;
}

/**
 * The grants of a tenant database, applied on every pass: nobody but its role may connect (PUBLIC's CONNECT and
 * TEMPORARY, which every database grants by default, revoked), and the role holds its owner's rights back if
 * someone revoked them.
 */
export function databaseGrants(database: string, role: string): string[] {
  const name = escapeIdentifier(database);
  return [
    `REVOKE ALL ON DATABASE ${name} FROM PUBLIC`,
    `GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ${name} TO ${escapeIdentifier(role)}`,
  ];
}

/** Ends every session on the database as it goes: a tenant API server still running cannot hold it. */
export function dropDatabase(database: string): string {
  return `DROP DATABASE IF EXISTS ${escapeIdentifier(database)} WITH (FORCE)`;
}

/** Nobody but the DataStore's administrator reaches the owners database. */
export function closeDatabase(database: string): string {
  return `REVOKE ALL ON DATABASE ${escapeIdentifier(database)} FROM PUBLIC`;
}

export function createOwnersDatabase(database: string): string {
  return `CREATE DATABASE ${escapeIdentifier(database)}`;
}

/** The owner records (src/datastore/sql/identity.ts), in the DataStore's `kamaji` database. */
export const OWNERS_TABLE = `CREATE TABLE IF NOT EXISTS owners (
  kind text NOT NULL CHECK (kind IN ('database', 'user')),
  name text NOT NULL,
  uid text NOT NULL,
  namespace text NOT NULL,
  tenant text NOT NULL,
  PRIMARY KEY (kind, name)
)`;
