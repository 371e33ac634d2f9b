import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * A role's password as PostgreSQL stores it (`SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`), computed
 * here so that the password itself never travels in a statement the server might log, and so that a stored one can
 * be checked without changing it.
 */
const ITERATIONS = 4096;

function keys(password: string, salt: Buffer, iterations: number): { storedKey: Buffer; serverKey: Buffer } {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  return {
    storedKey: createHash('sha256').update(clientKey).digest(),
    serverKey: createHmac('sha256', salted).update('Server Key').digest(),
  };
}

/**
 * Printable ASCII only: PostgreSQL normalises other passwords with SASLprep before hashing, which is not done
 * here; Kamaji's generated passwords never need it.
 */
function assertPrintableAscii(password: string): void {
  if (!/^[\x21-\x7e]+$/.test(password)) {
    throw new Error('a tenant datastore password must be non-empty printable ASCII without spaces');
  }
}

export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = ITERATIONS): string {
  assertPrintableAscii(password);
  const { storedKey, serverKey } = keys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

/** True when `stored` (pg_authid.rolpassword, null when none) is a SCRAM verifier of `password`. */
export function verifierMatches(stored: string | null, password: string): boolean {
  const match = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(stored ?? '');
  if (!match?.[1] || !match[2] || !match[3] || !match[4]) return false;
  const expected = keys(password, Buffer.from(match[2], 'base64'), Number(match[1]));
  const storedKey = Buffer.from(match[3], 'base64');
  const serverKey = Buffer.from(match[4], 'base64');
  return (
    storedKey.length === expected.storedKey.length &&
    serverKey.length === expected.serverKey.length &&
    timingSafeEqual(storedKey, expected.storedKey) &&
    timingSafeEqual(serverKey, expected.serverKey)
  );
}
