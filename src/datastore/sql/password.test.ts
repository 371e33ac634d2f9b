import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generatePassword, keepOrGeneratePassword } from './password.ts';

test('a generated password is 32 URL-safe characters, different each time', () => {
  const passwords = new Set(Array.from({ length: 100 }, generatePassword));
  assert.equal(passwords.size, 100);
  for (const password of passwords) assert.match(password, /^[A-Za-z0-9_-]{32}$/);
});

test('a usable stored password is kept; a missing, short or corrupted one is replaced', () => {
  const stored = generatePassword();
  assert.equal(keepOrGeneratePassword(stored), stored);
  for (const corrupted of [undefined, '', 'short', `${stored.slice(0, 20)}@/:?${stored.slice(20)}`, `${stored}\n`]) {
    const replacement = keepOrGeneratePassword(corrupted);
    assert.notEqual(replacement, corrupted);
    assert.match(replacement, /^[A-Za-z0-9_-]{32}$/);
  }
});
