import assert from 'node:assert/strict';
import { test } from 'node:test';
import { scramVerifier, verifierMatches } from './scram.ts';

test('a SCRAM verifier matches its own password and no other', () => {
  const verifier = scramVerifier('s3cret-Password');
  assert.match(verifier, /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  assert.equal(verifierMatches(verifier, 's3cret-Password'), true);
  assert.equal(verifierMatches(verifier, 's3cret-password'), false);
  assert.equal(verifierMatches(null, 's3cret-Password'), false);
  assert.equal(verifierMatches('md5abcdef', 's3cret-Password'), false);
});

test('the same password and salt give the same verifier; a new salt gives another', () => {
  const salt = Buffer.alloc(16, 7);
  assert.equal(scramVerifier('pw', salt), scramVerifier('pw', salt));
  assert.notEqual(scramVerifier('pw'), scramVerifier('pw'));
});

test('passwords that would need SASLprep are refused, saying what is allowed', () => {
  for (const password of ['', 'with space', 'naïve', 'tab\t']) {
    assert.throws(() => scramVerifier(password), /printable ASCII/);
  }
});
