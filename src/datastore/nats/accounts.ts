import { fromSeed, type KeyPair } from '@nats-io/nkeys';
import { type AccountLimits, credsFile, fileStorageLimits, NO_JETSTREAM, signJwt } from './jwt.ts';
import { derivedKeyPair, encodeSeed, seedRole } from './nkeys.ts';

/**
 * Every key of a NATS DataStore in operator mode, derived from the operator's seed (the DataStore's secret), so that
 * the operator seed alone lets Kamaji configure the server, sign one account per tenant and delete it again:
 * - the system account (pushes and deletes account JWTs on the server's resolver);
 * - the `kamaji` account, holding the owner records (a KV bucket);
 * - per tenant schema, an account (its own subjects and JetStream: nothing is shared between accounts) and, per
 *   password, the key that signs its users: a new password replaces it, which disconnects and refuses every user
 *   the old one signed.
 */
export class NatsOperator {
  readonly operator: KeyPair;
  private readonly seed: string;

  constructor(operatorSeed: string) {
    if (seedRole(operatorSeed) !== 'operator') throw new Error('not an operator seed (SO…)');
    this.seed = operatorSeed;
    this.operator = fromSeed(new TextEncoder().encode(operatorSeed));
  }

  get publicKey(): string {
    return this.operator.getPublicKey();
  }

  systemAccount(): KeyPair {
    return this.derive('account', 'system-account');
  }

  ownersAccount(): KeyPair {
    return this.derive('account', 'owners-account');
  }

  tenantAccount(schema: string): KeyPair {
    return this.derive('account', `tenant-account/${schema}`);
  }

  /** The operator's own JWT, which the server is configured with. */
  operatorJwt(name: string): string {
    return signJwt(
      this.operator,
      {
        subject: this.publicKey,
        name,
        nats: { type: 'operator', system_account: this.systemAccount().getPublicKey() },
      },
      0,
    );
  }

  systemAccountJwt(): string {
    return this.accountJwt(this.systemAccount(), 'SYS', NO_JETSTREAM, [], 0);
  }

  ownersAccountJwt(issuedAt: number): string {
    return this.accountJwt(this.ownersAccount(), 'kamaji', fileStorageLimits(1), [], issuedAt);
  }

  /** A tenant's account: one stream (its KV bucket) on file storage, users signed by its password's key only. */
  tenantAccountJwt(schema: string, password: string | undefined, issuedAt: number): string {
    const signers = password === undefined ? [] : [this.tenantSigner(schema, password).getPublicKey()];
    return this.accountJwt(this.tenantAccount(schema), schema, fileStorageLimits(1), signers, issuedAt);
  }

  /** The creds file of a tenant's user (kine's `credsFile`): the same for the same schema, user and password. */
  tenantCredentials(schema: string, username: string, password: string): string {
    const account = this.tenantAccount(schema);
    return this.userCredentials(
      account,
      this.tenantSigner(schema, password),
      `user/${schema}/${username}/${password}`,
      username,
    );
  }

  /** Kamaji's own user in `account` (system, owners or a tenant's, signed by the account key itself). */
  serviceCredentials(account: KeyPair, name: string): string {
    return this.userCredentials(account, account, `service/${account.getPublicKey()}/${name}`, name);
  }

  private userCredentials(account: KeyPair, signer: KeyPair, label: string, name: string): string {
    const user = this.derive('user', label);
    const jwt = signJwt(
      signer,
      {
        subject: user.getPublicKey(),
        name,
        nats: { type: 'user', issuer_account: account.getPublicKey(), subs: -1, data: -1, payload: -1 },
      },
      0,
    );
    return credsFile(jwt, new TextDecoder().decode(user.getSeed()));
  }

  private tenantSigner(schema: string, password: string): KeyPair {
    return this.derive('account', `tenant-signer/${schema}/${password}`);
  }

  private accountJwt(
    account: KeyPair,
    name: string,
    limits: AccountLimits,
    signingKeys: string[],
    issuedAt: number,
  ): string {
    return signJwt(
      this.operator,
      { subject: account.getPublicKey(), name, nats: { type: 'account', limits, signing_keys: signingKeys } },
      issuedAt,
    );
  }

  private derive(role: 'account' | 'user', label: string): KeyPair {
    return derivedKeyPair(role, this.seed, label);
  }
}

/** A fresh operator seed (`SO…`): what `kamaji` puts in a new NATS DataStore's Secret. */
export function newOperatorSeed(random: Uint8Array): string {
  return encodeSeed('operator', random);
}
