import { jetstreamManager } from '@nats-io/jetstream';
import { type KV, Kvm } from '@nats-io/kv';
import type { KeyPair } from '@nats-io/nkeys';
import type { DatastoreDriver, DeletedTenant, Ownership, TenantOwner, TenantStorage } from '../driver.ts';
import { OpenOnce } from '../sql/open-once.ts';
import { NatsOperator } from './accounts.ts';
import { connectNats, type NatsClient, type NatsConnection } from './connection.ts';
import { signJwt } from './jwt.ts';

/** The owners account's KV bucket: one record per tenant schema, `tenant.<schema>` → the owning TCP. */
export const OWNERS_BUCKET = 'kamaji_owners';
const REQUEST_TIMEOUT_MS = 5_000;

export function ownerKey(schema: string): string {
  return `tenant.${schema}`;
}

/** The account of a tenant's bucket: what `deleteTenant` removes, and what the tests look for. */
export function tenantAccountKey(connection: NatsConnection, schema: string): string {
  return new NatsOperator(connection.operatorSeed).tenantAccount(schema).getPublicKey();
}

/**
 * A NATS server (JetStream, in operator mode) where each tenant is an account of its own: its subjects, its
 * `_INBOX`, its streams are invisible to every other account, so kine's bucket (named like the schema) is the
 * tenant's alone. Kamaji signs the accounts with the operator's key and pushes or deletes them through the system
 * account; the owner records live in a KV bucket of a `kamaji` account (docs/datastore-nats.md).
 */
export class NatsDriver implements DatastoreDriver {
  private readonly connection: NatsConnection;
  private readonly operator: NatsOperator;
  private readonly system: OpenOnce<{ client: NatsClient }>;
  private readonly owners: OpenOnce<{ client: NatsClient; records: KV }>;

  constructor(connection: NatsConnection) {
    this.connection = connection;
    this.operator = new NatsOperator(connection.operatorSeed);
    this.system = new OpenOnce(
      async () => ({ client: await this.login(this.operator.systemAccount(), 'kamaji-system') }),
      ({ client }) => client.close(),
    );
    this.owners = new OpenOnce(
      () => this.openOwners(),
      ({ client }) => client.close(),
    );
  }

  async check(): Promise<void> {
    try {
      await (await live(this.system)).client.flush();
    } catch (error) {
      this.system.close();
      throw new Error(`NATS at ${this.connection.endpoints.join(', ')}: ${(error as Error).message}`);
    }
  }

  async ensureTenant(storage: TenantStorage, owner: TenantOwner): Promise<Ownership> {
    const { schema, password } = storage;
    if (!password) throw new Error(`NATS user ${storage.username}: a password is required (its signing key)`);
    const { records } = await live(this.owners);
    const record = JSON.stringify({ uid: owner.uid, namespace: owner.namespace, name: owner.name });
    try {
      await records.create(ownerKey(schema), record);
    } catch (error) {
      // Taken: by this tenant (a re-run) or by another, whose record decides.
      const holder = (await ownerRecord(records, schema))?.owner;
      if (holder === undefined) throw error;
      if (holder.uid !== owner.uid) {
        return { reason: 'OwnedByAnotherTenant', field: 'spec.dataStoreSchema', owner: holder };
      }
    }
    await this.pushAccount(this.operator.tenantAccountJwt(schema, password, now()));
    return undefined;
  }

  async deleteTenant(storage: TenantStorage, owner: TenantOwner): Promise<DeletedTenant> {
    const { records } = await live(this.owners);
    const record = await ownerRecord(records, storage.schema);
    if (record?.owner.uid !== owner.uid) return { deletedKeys: 0, notOwned: ['spec.dataStoreSchema'] };
    const account = this.operator.tenantAccount(storage.schema);
    let deletedKeys = 0;
    if (await this.accountOnServer(account.getPublicKey())) {
      // Its users refused (and disconnected) first, so nothing writes while the bucket goes.
      await this.pushAccount(this.operator.tenantAccountJwt(storage.schema, undefined, now()));
      deletedKeys = await this.deleteStreams(account);
      await this.deleteAccount(account.getPublicKey());
    }
    await records.delete(ownerKey(storage.schema), { previousSeq: record.revision });
    return { deletedKeys, notOwned: [] };
  }

  close(): void {
    this.system.close();
    this.owners.close();
  }

  private login(account: KeyPair, name: string): Promise<NatsClient> {
    return connectNats(this.connection, this.operator.serviceCredentials(account, name), name);
  }

  /** The owners account pushed (a no-op once the server has it), then its KV bucket, created on first use. */
  private async openOwners(): Promise<{ client: NatsClient; records: KV }> {
    await this.pushAccount(this.operator.ownersAccountJwt(now()));
    const client = await this.login(this.operator.ownersAccount(), 'kamaji-owners');
    try {
      const records = await new Kvm(client).create(OWNERS_BUCKET, { history: 1 });
      return { client, records };
    } catch (error) {
      await client.close();
      throw error;
    }
  }

  private async pushAccount(jwt: string): Promise<void> {
    await this.systemRequest('$SYS.REQ.CLAIMS.UPDATE', jwt, 'update an account');
  }

  private async deleteAccount(account: string): Promise<void> {
    const operator = this.operator.operator;
    const request = signJwt(
      operator,
      { subject: operator.getPublicKey(), name: 'delete', nats: { type: 'generic', accounts: [account] } },
      now(),
    );
    await this.systemRequest('$SYS.REQ.CLAIMS.DELETE', request, `delete account ${account}`);
  }

  /** Whether the server's resolver holds the account's JWT. */
  async accountOnServer(account: string): Promise<boolean> {
    const reply = await (await live(this.system)).client.request(`$SYS.REQ.ACCOUNT.${account}.CLAIMS.LOOKUP`, '', {
      timeout: REQUEST_TIMEOUT_MS,
    });
    return reply.string().startsWith('ey');
  }

  /** Every stream of the account deleted (kine's bucket is its one stream); returns how many keys they held. */
  private async deleteStreams(account: KeyPair): Promise<number> {
    const client = await this.login(account, 'kamaji-cleanup');
    try {
      const streams = await jetstreamManager(client);
      let keys = 0;
      for await (const stream of streams.streams.list()) {
        keys += stream.state.num_subjects ?? 0;
        await streams.streams.delete(stream.config.name);
      }
      return keys;
    } finally {
      await client.close();
    }
  }

  private async systemRequest(subject: string, body: string, what: string): Promise<void> {
    const reply = await (await live(this.system)).client.request(subject, body, { timeout: REQUEST_TIMEOUT_MS });
    const answer = reply.json<{ error?: { description?: string } }>();
    if (answer.error) throw new Error(`nats-server refused to ${what}: ${answer.error.description ?? 'no reason'}`);
  }
}

/**
 * The open connection, opened again when it was closed (the server restarted, or dropped it): a client that lost
 * its server does not reconnect, so that a call fails at once instead of waiting.
 */
async function live<T extends { client: NatsClient }>(connection: OpenOnce<T>): Promise<T> {
  const open = await connection.get();
  if (!open.client.isClosed()) return open;
  connection.close();
  return connection.get();
}

/** The TCP a schema's record names, and the record's revision (deletion compares on it). */
async function ownerRecord(records: KV, schema: string): Promise<{ owner: TenantOwner; revision: number } | undefined> {
  const entry = await records.get(ownerKey(schema));
  if (entry?.operation !== 'PUT') return undefined;
  return { owner: entry.json<TenantOwner>(), revision: entry.revision };
}

function now(): number {
  return Math.floor(Date.now() / 1000);
}
