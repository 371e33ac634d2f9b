import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { addressInCidr, cidrContains, formatIp, parseCidr, parseIp } from './ip.ts';

describe('IP addresses and CIDRs', () => {
  test('parse and print IPv4 and IPv6, canonically', () => {
    assert.deepEqual(parseIp('10.96.0.10'), { family: 4, value: 0x0a60000an });
    assert.equal(parseIp('10.96.0'), undefined);
    assert.equal(formatIp(parseIp('fd00:0:0::0010')!), 'fd00::10');
    assert.equal(formatIp(parseIp('::ffff:10.0.0.1')!), '::ffff:a00:1');
    assert.equal(formatIp(parseIp('::')!), '::');
    assert.equal(formatIp(parseIp('2001:db8::1:0:0:1')!), '2001:db8::1:0:0:1');
  });

  test('a CIDR holds its network address and contains the addresses under its prefix', () => {
    const network = parseCidr('10.96.3.7/16')!;
    assert.equal(formatIp(network), '10.96.0.0');
    assert.ok(cidrContains(network, parseIp('10.96.255.255')!));
    assert.ok(!cidrContains(network, parseIp('10.97.0.0')!));
    assert.ok(!cidrContains(network, parseIp('::a60:0')!), 'another family');
    assert.ok(cidrContains(parseCidr('0.0.0.0/0')!, parseIp('192.168.1.1')!));
    for (const invalid of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/8', 'fd00::/129', 'x/8']) {
      assert.equal(parseCidr(invalid), undefined, invalid);
    }
  });

  test('addresses counted from a network address', () => {
    assert.equal(addressInCidr('10.96.0.0/16', 1), '10.96.0.1');
    assert.equal(addressInCidr('10.96.0.0/16', 10), '10.96.0.10');
    assert.equal(addressInCidr('192.168.0.250/24', 10), '192.168.0.10');
    assert.equal(addressInCidr('fd00:10:96::/112', 10), 'fd00:10:96::a');
    assert.throws(() => addressInCidr('nonsense', 1), /not an IPv4 or IPv6 CIDR/);
  });
});
