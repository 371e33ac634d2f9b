import { createHmac } from 'node:crypto';
import { fromSeed, type KeyPair } from '@nats-io/nkeys';

/** NATS key roles (the first letter of a public key, `S` + it for a seed), as nkeys encodes them. */
const ROLE_PREFIX = { operator: 14 << 3, account: 0, user: 20 << 3 } as const;
export type KeyRole = keyof typeof ROLE_PREFIX;

const SEED_PREFIX = 18 << 3;
const BASE32_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/**
 * The key pair of `role` whose Ed25519 seed is HMAC-SHA256(secret, label): the same inputs always give the same key,
 * so Kamaji stores no key of its own, and keys for different labels cannot be told to be related.
 */
export function derivedKeyPair(role: KeyRole, secret: string, label: string): KeyPair {
  const raw = createHmac('sha256', secret).update(label).digest();
  return fromSeed(new TextEncoder().encode(encodeSeed(role, raw)));
}

/** An nkeys seed string (`SO…`, `SA…`, `SU…`) for a raw 32-byte Ed25519 seed. */
export function encodeSeed(role: KeyRole, raw: Uint8Array): string {
  if (raw.length !== 32) throw new Error(`an Ed25519 seed is 32 bytes, got ${raw.length}`);
  const prefix = ROLE_PREFIX[role];
  const payload = Buffer.concat([Buffer.from([SEED_PREFIX | (prefix >> 5), (prefix & 31) << 3]), raw]);
  return base32(withChecksum(payload));
}

/** The role of an nkeys seed string, or undefined when it is not one (wrong prefix, length or checksum). */
export function seedRole(seed: string): KeyRole | undefined {
  try {
    const pair = fromSeed(new TextEncoder().encode(seed));
    const letter = pair.getPublicKey()[0];
    return (Object.keys(ROLE_PREFIX) as KeyRole[]).find((role) => BASE32_ALPHABET[ROLE_PREFIX[role] >> 3] === letter);
  } catch {
    return undefined;
  }
}

function withChecksum(payload: Buffer): Buffer {
  const checksum = Buffer.alloc(2);
  checksum.writeUInt16LE(crc16(payload));
  return Buffer.concat([payload, checksum]);
}

/** CRC-16/XMODEM, which nkeys appends to every key. */
function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** RFC 4648 base32 without padding. */
function base32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32_ALPHABET[(value << (5 - bits)) & 31];
  return out;
}
