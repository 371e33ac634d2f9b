import { escapeId, escape as escapeValue } from 'mysql2';

/**
 * The SQL a tenant's identity is made and unmade with on MySQL and MariaDB. DDL takes no placeholders, so names
 * are quoted with escapeId (qualified names forbidden: a dot stays part of the name) and values with escape;
 * catalog reads elsewhere use placeholders. A tenant user is `'<name>'@'%'`, TLS required.
 */

function quoteName(name: string): string {
  return escapeId(name, true);
}

/** The account: any host (tenant API servers run anywhere), the name as a string literal. */
export function account(user: string): string {
  return `${escapeValue(user)}@'%'`;
}

/** How SHOW GRANTS writes the account back. */
function grantedAccount(user: string): string {
  return `${quoteName(user)}@\`%\``;
}

/**
 * A database name as a GRANT reads it: there `_` and `%` are wildcards, so tenant `a_b`'s grant would also cover
 * another tenant's `a1b` unless they are escaped.
 */
function grantPattern(database: string): string {
  return quoteName(database.replace(/[\\_%]/g, '\\$&'));
}

export function createUser(user: string, password: string): string {
  return `CREATE USER ${account(user)} IDENTIFIED BY ${escapeValue(password)} REQUIRE SSL`;
}

/** Sets the password, TLS required and the account unlocked again: repairs whatever was changed. */
export function alterUser(user: string, password: string): string {
  return `ALTER USER ${account(user)} IDENTIFIED BY ${escapeValue(password)} REQUIRE SSL ACCOUNT UNLOCK`;
}

/** Refuses new logins at once, before the user's sessions are ended and it is dropped. */
export function lockUser(user: string): string {
  return `ALTER USER ${account(user)} ACCOUNT LOCK`;
}

export function dropUser(user: string): string {
  return `DROP USER IF EXISTS ${account(user)}`;
}

export function createDatabase(database: string): string {
  return `CREATE DATABASE IF NOT EXISTS ${quoteName(database)}`;
}

export function dropDatabase(database: string): string {
  return `DROP DATABASE IF EXISTS ${quoteName(database)}`;
}

/** Everything on its own database (ALL excludes GRANT OPTION), nothing elsewhere. */
export function grantDatabase(database: string, user: string): string {
  return `GRANT ALL PRIVILEGES ON ${grantPattern(database)}.* TO ${account(user)}`;
}

export function showGrants(user: string): string {
  return `SHOW GRANTS FOR ${account(user)}`;
}

/**
 * Whether a line of SHOW GRANTS is one a tenant user may hold: its login (USAGE on *.*, with the password and the
 * TLS requirement MariaDB prints) or privileges on its own database without GRANT OPTION. Anything else (another
 * database, a global privilege, a role) was given by someone else and is never extended.
 */
export function isTenantGrant(line: string, database: string, user: string): boolean {
  const to = ` TO ${grantedAccount(user)}`;
  const login = `GRANT USAGE ON *.*${to}`;
  if (line.startsWith(login)) {
    return /^( IDENTIFIED BY PASSWORD '[^']*')?( REQUIRE SSL)?$/.test(line.slice(login.length));
  }
  const onDatabase = ` ON ${grantPattern(database)}.*${to}`;
  return line.startsWith('GRANT ') && line.endsWith(onDatabase) && !line.slice(6, -onDatabase.length).includes('`');
}

export const OWNERS_TABLE = `CREATE TABLE IF NOT EXISTS owners (
  kind ENUM('database', 'user') NOT NULL,
  name VARCHAR(128) NOT NULL,
  uid VARCHAR(128) NOT NULL,
  namespace VARCHAR(253) NOT NULL,
  tenant VARCHAR(253) NOT NULL,
  PRIMARY KEY (kind, name)
) ENGINE = InnoDB CHARACTER SET utf8mb4 COLLATE utf8mb4_bin`;
