import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alterRole,
  createDatabase,
  createRole,
  databaseGrants,
  disableLogin,
  dropDatabase,
  dropRole,
  setDatabaseOwner,
} from './statements.ts';

const HOSTILE = ['x"; DROP ROLE postgres; --', 'x" WITH SUPERUSER --', "o'clock", 'back\\slash', '"', 'ünïcode', 'a b'];

/** The identifier as PostgreSQL reads it back from `"..."`: doubled quotes are one quote. */
function unquote(quoted: string): string {
  assert.match(quoted, /^"(?:[^"]|"")*"$/);
  return quoted.slice(1, -1).replaceAll('""', '"');
}

/** Splits a statement into its quoted identifiers and the SQL around them. */
function identifiers(statement: string): { names: string[]; rest: string } {
  const names: string[] = [];
  const rest = statement.replace(/"(?:[^"]|"")*"/g, (quoted) => {
    names.push(unquote(quoted));
    return 'ID';
  });
  return { names, rest };
}

test('hostile names stay one quoted identifier each, whatever they hold', () => {
  for (const name of HOSTILE) {
    const cases: [string, string][] = [
      [
        createRole(name, 'SCRAM-SHA-256$v'),
        `CREATE ROLE ID WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD 'SCRAM-SHA-256$v'`,
      ],
      [
        alterRole(name, undefined),
        'ALTER ROLE ID WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT',
      ],
      [disableLogin(name), 'ALTER ROLE ID WITH NOLOGIN'],
      [dropRole(name), 'DROP ROLE IF EXISTS ID'],
      [dropDatabase(name), 'DROP DATABASE IF EXISTS ID WITH (FORCE)'],
    ];
    for (const [statement, shape] of cases) {
      assert.deepEqual(identifiers(statement), { names: [name], rest: shape }, statement);
    }
    assert.deepEqual(identifiers(createDatabase(name, name)), {
      names: [name, name],
      rest: 'CREATE DATABASE ID WITH OWNER ID',
    });
    assert.deepEqual(identifiers(setDatabaseOwner(name, name)), {
      names: [name, name],
      rest: 'ALTER DATABASE ID OWNER TO ID',
    });
    assert.deepEqual(
      databaseGrants(name, name).map((statement) => identifiers(statement).rest),
      ['REVOKE ALL ON DATABASE ID FROM PUBLIC', 'GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ID TO ID'],
    );
  }
});

test('a password verifier is one string literal, quotes and backslashes escaped', () => {
  const statement = alterRole('r', "it's\\x");
  assert.equal(
    statement,
    `ALTER ROLE "r" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD  E'it''s\\\\x'`,
  );
});
