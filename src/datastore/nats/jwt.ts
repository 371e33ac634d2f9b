import { createHash } from 'node:crypto';
import type { KeyPair } from '@nats-io/nkeys';

/** The `nats` section of a claim, as nats-server reads it (schema version 2). */
export type NatsClaim =
  | { type: 'operator'; system_account: string }
  | {
      type: 'account';
      limits: AccountLimits;
      /** Keys that may sign this account's users; a user signed by any other key (but the account's) is refused. */
      signing_keys: string[];
    }
  /** A user: no limits of its own (absent, a limit would be 0: no payload at all), the account's apply. */
  | { type: 'user'; issuer_account: string; subs: -1; data: -1; payload: -1 }
  /** A request to the system account, e.g. the accounts to delete. */
  | { type: 'generic'; accounts: string[] };

export interface AccountLimits {
  /** JetStream: bytes of memory and file storage (-1 unlimited, 0 none), streams and consumers (-1 unlimited). */
  mem_storage: number;
  disk_storage: number;
  streams: number;
  consumer: number;
  subs: number;
  conn: number;
  leaf: number;
  imports: number;
  exports: number;
  data: number;
  payload: number;
  wildcards: boolean;
}

/** Unlimited core NATS within the account; no imports or exports, so nothing crosses to another account. */
const CORE_LIMITS = {
  subs: -1,
  conn: -1,
  leaf: 0,
  imports: 0,
  exports: 0,
  data: -1,
  payload: -1,
  wildcards: true,
} as const;

/** An account with no JetStream (the system account). */
export const NO_JETSTREAM: AccountLimits = { ...CORE_LIMITS, mem_storage: 0, disk_storage: 0, streams: 0, consumer: 0 };

/** JetStream on file storage only, at most `streams` streams (a KV bucket is one stream). */
export function fileStorageLimits(streams: number): AccountLimits {
  return { ...CORE_LIMITS, mem_storage: 0, disk_storage: -1, streams, consumer: -1 };
}

/**
 * A NATS JWT (`ed25519-nkey`) signed by `issuer`. The ID is a hash of everything but the issue time, so pushing an
 * unchanged claim again is a no-op for the server's resolver (it keeps a JWT whose ID it already has).
 */
export function signJwt(
  issuer: KeyPair,
  claim: { subject: string; name: string; nats: NatsClaim },
  issuedAt: number,
): string {
  const body = {
    iss: issuer.getPublicKey(),
    name: claim.name,
    sub: claim.subject,
    nats: { ...claim.nats, version: 2 },
  };
  const jti = createHash('sha256').update(JSON.stringify(body)).digest('base64url');
  const header = base64url(JSON.stringify({ typ: 'JWT', alg: 'ed25519-nkey' }));
  const payload = base64url(JSON.stringify({ jti, iat: issuedAt, ...body }));
  const signature = Buffer.from(issuer.sign(new TextEncoder().encode(`${header}.${payload}`))).toString('base64url');
  return `${header}.${payload}.${signature}`;
}

/** The claims of a JWT, unverified (for reading back what the server holds). */
export function jwtClaims(jwt: string): { sub?: string; name?: string; iat?: number; nats?: Record<string, unknown> } {
  const payload = jwt.split('.')[1];
  if (!payload) throw new Error('not a JWT');
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

/** A creds file, as NATS clients (kine's `credsFile`) read it: the user's JWT and its seed. */
export function credsFile(userJwt: string, userSeed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    userJwt,
    '------END NATS USER JWT------',
    '',
    '-----BEGIN USER NKEY SEED-----',
    userSeed,
    '------END USER NKEY SEED------',
    '',
  ].join('\n');
}

function base64url(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64url');
}
