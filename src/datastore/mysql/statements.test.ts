import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  alterUser,
  createDatabase,
  createUser,
  dropDatabase,
  dropUser,
  grantDatabase,
  isTenantGrant,
  lockUser,
} from './statements.ts';

const HOSTILE = ["x'; DROP USER root; --", 'x`; DROP DATABASE mysql; --', 'a.b', 'back\\slash', "'", '`'];

/** Reads one backtick identifier or one single-quoted literal back, as MySQL does. */
function unquoteId(quoted: string): string {
  assert.match(quoted, /^`(?:[^`]|``)*`$/);
  return quoted.slice(1, -1).replaceAll('``', '`');
}
function unquoteLiteral(quoted: string): string {
  assert.match(quoted, /^'(?:[^'\\]|\\.)*'$/);
  return quoted.slice(1, -1).replace(/\\(.)/g, (_, character: string) => (character === '0' ? '\0' : character));
}

/** Replaces each quoted identifier with ID and each literal with LIT, collecting their values. */
function parts(statement: string): { values: string[]; rest: string } {
  const values: string[] = [];
  const rest = statement.replace(/`(?:[^`]|``)*`|'(?:[^'\\]|\\.)*'/g, (quoted) => {
    if (quoted.startsWith('`')) {
      values.push(unquoteId(quoted));
      return 'ID';
    }
    values.push(unquoteLiteral(quoted));
    return 'LIT';
  });
  return { values, rest };
}

test('hostile names stay one identifier or one literal each', () => {
  for (const name of HOSTILE) {
    assert.deepEqual(parts(createDatabase(name)), { values: [name], rest: 'CREATE DATABASE IF NOT EXISTS ID' });
    assert.deepEqual(parts(dropDatabase(name)), { values: [name], rest: 'DROP DATABASE IF EXISTS ID' });
    assert.deepEqual(parts(dropUser(name)), { values: [name, '%'], rest: 'DROP USER IF EXISTS LIT@LIT' });
    assert.deepEqual(parts(lockUser(name)), { values: [name, '%'], rest: 'ALTER USER LIT@LIT ACCOUNT LOCK' });
    assert.deepEqual(parts(createUser(name, name)), {
      values: [name, '%', name],
      rest: 'CREATE USER LIT@LIT IDENTIFIED BY LIT REQUIRE SSL',
    });
    assert.deepEqual(parts(alterUser(name, name)), {
      values: [name, '%', name],
      rest: 'ALTER USER LIT@LIT IDENTIFIED BY LIT REQUIRE SSL ACCOUNT UNLOCK',
    });
  }
});

test('a database grant escapes the wildcards _ and %, so tenant a_b never covers a1b', () => {
  assert.equal(grantDatabase('a_b%c', 'u'), "GRANT ALL PRIVILEGES ON `a\\_b\\%c`.* TO 'u'@'%'");
});

test('only the login and privileges on its own database count as a tenant grant', () => {
  const own = [
    "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*0123ABCD' REQUIRE SSL",
    'GRANT USAGE ON *.* TO `a`@`%`',
    'GRANT ALL PRIVILEGES ON `a\\_db`.* TO `a`@`%`',
    'GRANT SELECT, INSERT ON `a\\_db`.* TO `a`@`%`',
  ];
  for (const line of own) assert.equal(isTenantGrant(line, 'a_db', 'a'), true, line);
  const foreign = [
    'GRANT SELECT ON *.* TO `a`@`%`',
    'GRANT ALL PRIVILEGES ON `a\\_db`.* TO `a`@`%` WITH GRANT OPTION',
    'GRANT ALL PRIVILEGES ON `b\\_db`.* TO `a`@`%`',
    'GRANT ALL PRIVILEGES ON `a_db`.* TO `a`@`%`',
    'GRANT SELECT ON `a\\_db`.`t` TO `a`@`%`',
    'GRANT `admin_role` TO `a`@`%`',
    "GRANT USAGE ON *.* TO `a`@`%` IDENTIFIED BY PASSWORD '*0123ABCD' REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 1",
  ];
  for (const line of foreign) assert.equal(isTenantGrant(line, 'a_db', 'a'), false, line);
});
