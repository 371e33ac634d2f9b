import assert from 'node:assert/strict';
import { test } from 'node:test';
import { children, namedBits, objectIdentifier, readElement, sequence, time, unsignedInteger } from './der.ts';

const hex = (buffer: Buffer) => buffer.toString('hex');

test('object identifiers use base-128 arcs', () => {
  assert.equal(hex(objectIdentifier('2.5.29.17')), '0603551d11');
  assert.equal(hex(objectIdentifier('1.2.840.10045.4.3.2')), '06082a8648ce3d040302');
});

test('integers are minimal and positive', () => {
  assert.equal(hex(unsignedInteger(Buffer.from([0, 0, 5]))), '020105');
  assert.equal(hex(unsignedInteger(Buffer.from([0x80]))), '02020080');
  assert.equal(hex(unsignedInteger(Buffer.from([2]))), '020102');
});

test('named bit strings drop trailing zero bits (key usage)', () => {
  // digitalSignature, keyCertSign, cRLSign: bits 0, 5, 6 → 0x86 with one unused bit.
  assert.equal(hex(namedBits([0, 5, 6])), '03020186');
  // digitalSignature alone: 0x80 with seven unused bits.
  assert.equal(hex(namedBits([0])), '03020780');
});

test('times are UTCTime before 2050 and GeneralizedTime after', () => {
  assert.equal(time(new Date('2026-11-24T06:30:01.999Z')).subarray(2).toString(), '261124063001Z');
  assert.equal(time(new Date('2060-01-02T03:04:05Z')).subarray(2).toString(), '20600102030405Z');
});

test('long lengths and nested elements read back', () => {
  const big = Buffer.alloc(300, 7);
  const encoded = sequence(unsignedInteger(Buffer.from([1])), unsignedInteger(big));
  const outer = readElement(encoded, 0);
  assert.equal(outer.end, encoded.length);
  const [first, second] = children(encoded, outer);
  assert.equal(first?.end, second?.start ?? 0);
  assert.equal((second?.end ?? 0) - (second?.contentStart ?? 0), 300);
});
