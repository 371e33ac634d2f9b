import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromSeed } from '@nats-io/nkeys';
import { derivedKeyPair, encodeSeed, seedRole } from './nkeys.ts';

test('a seed encoded here is one nkeys reads back, with the role as its second letter', () => {
  const raw = new Uint8Array(32).map((_, index) => index * 7);
  for (const [role, prefix] of [
    ['operator', 'SO'],
    ['account', 'SA'],
    ['user', 'SU'],
  ] as const) {
    const seed = encodeSeed(role, raw);
    assert.equal(seed.slice(0, 2), prefix);
    assert.equal(seed.length, 58);
    const pair = fromSeed(new TextEncoder().encode(seed));
    assert.equal(pair.getPublicKey()[0], prefix[1]);
    assert.equal(seedRole(seed), role);
  }
});

test('a seed with a wrong checksum or length is no seed', () => {
  const seed = encodeSeed('operator', new Uint8Array(32).fill(1));
  const flipped = `${seed.slice(0, 10)}${seed[10] === 'A' ? 'B' : 'A'}${seed.slice(11)}`;
  assert.equal(seedRole(flipped), undefined);
  assert.equal(seedRole(seed.slice(0, -1)), undefined);
  assert.equal(seedRole('secret'), undefined);
  assert.throws(() => encodeSeed('user', new Uint8Array(31)), /32 bytes/);
});

test('derived keys: the same secret and label give the same key; another label or secret another key', () => {
  const key = (secret: string, label: string) => derivedKeyPair('account', secret, label).getPublicKey();
  assert.equal(key('s', 'tenant-account/a'), key('s', 'tenant-account/a'));
  assert.notEqual(key('s', 'tenant-account/a'), key('s', 'tenant-account/b'));
  assert.notEqual(key('s', 'tenant-account/a'), key('t', 'tenant-account/a'));
  assert.match(key('s', 'x'), /^A[A-Z2-7]{55}$/);
});
