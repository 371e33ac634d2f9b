import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fromPublic } from '@nats-io/nkeys';
import { NatsOperator, newOperatorSeed } from './accounts.ts';
import { jwtClaims } from './jwt.ts';

const operator = new NatsOperator(newOperatorSeed(new Uint8Array(32).fill(3)));

function verifies(jwt: string, signer: string): boolean {
  const [header, payload, signature] = jwt.split('.');
  return fromPublic(signer).verify(
    new TextEncoder().encode(`${header}.${payload}`),
    Buffer.from(signature ?? '', 'base64url'),
  );
}

test('an account JWT is signed by the operator and names the account; its ID ignores the issue time', () => {
  const first = operator.tenantAccountJwt('acme_db', 'p'.repeat(32), 100);
  const later = operator.tenantAccountJwt('acme_db', 'p'.repeat(32), 200);
  assert.ok(verifies(first, operator.publicKey));
  const claims = jwtClaims(first);
  assert.equal(claims.sub, operator.tenantAccount('acme_db').getPublicKey());
  assert.equal(claims.nats?.type, 'account');
  assert.equal(jwtClaims(later).iat, 200);
  // An unchanged account pushed again is a no-op for the resolver, which compares IDs.
  assert.equal((jwtClaims(later) as { jti?: string }).jti, (jwtClaims(first) as { jti?: string }).jti);
  const rotated = operator.tenantAccountJwt('acme_db', 'q'.repeat(32), 200);
  assert.notDeepEqual(jwtClaims(rotated).nats?.signing_keys, claims.nats?.signing_keys);
  assert.deepEqual(jwtClaims(operator.tenantAccountJwt('acme_db', undefined, 300)).nats?.signing_keys, []);
});

test("a tenant's creds: a user JWT signed by the account's signing key for that password, never the account's", () => {
  const creds = operator.tenantCredentials('acme_db', 'acme', 'p'.repeat(32));
  const jwt = creds.split('\n')[1] ?? '';
  const claims = jwtClaims(jwt);
  const account = jwtClaims(operator.tenantAccountJwt('acme_db', 'p'.repeat(32), 1));
  const signer = (account.nats?.signing_keys as string[] | undefined)?.[0];
  assert.ok(signer);
  assert.ok(verifies(jwt, signer));
  assert.ok(!verifies(jwt, operator.tenantAccount('acme_db').getPublicKey()));
  assert.equal(claims.name, 'acme');
  assert.equal(claims.nats?.issuer_account, operator.tenantAccount('acme_db').getPublicKey());
  assert.equal(claims.nats?.payload, -1);
});

test('the operator JWT names the system account; the system account has no JetStream', () => {
  const claims = jwtClaims(operator.operatorJwt('kamaji'));
  assert.equal(claims.sub, operator.publicKey);
  assert.equal(claims.nats?.system_account, operator.systemAccount().getPublicKey());
  const limits = jwtClaims(operator.systemAccountJwt()).nats?.limits as Record<string, number>;
  assert.equal(limits.disk_storage, 0);
  assert.equal(limits.mem_storage, 0);
});

test('an operator seed is required', () => {
  assert.throws(() => new NatsOperator(operator.tenantCredentials('a', 'b', 'c')), /not an operator seed/);
});
