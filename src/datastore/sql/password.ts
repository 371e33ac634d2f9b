import { randomBytes } from 'node:crypto';

/**
 * A tenant password as Kamaji writes it: URL-safe base64 (A–Z, a–z, 0–9, `-`, `_`), so that it is printable ASCII
 * (the SCRAM code does no SASLprep) and needs no escaping in the `DB_*` connection URL kine is given.
 */
const USABLE_PASSWORD = /^[A-Za-z0-9_-]{24,128}$/;

/** 24 random bytes: 192 bits, 32 characters. */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url');
}

/** The stored password while it is usable (kept, never regenerated), else a new one: missing or corrupted. */
export function keepOrGeneratePassword(stored: string | undefined): string {
  return stored !== undefined && USABLE_PASSWORD.test(stored) ? stored : generatePassword();
}
