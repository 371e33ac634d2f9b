import type { Etcd3, IKeyValue, IRequestOp } from 'etcd3';
import { prefixRangeEnd } from '../etcd/access.ts';
import { type KeyspaceSnapshot, type KeyValue, planReplace, type ReplaceResult } from './plan.ts';

/** Keys per range call: large enough to be quick, small enough to keep each response well under gRPC's limit. */
const PAGE = 500;
/** Writes in flight at once. kine answers each in its own SQL transaction, so a few run side by side. */
const WRITE_CONCURRENCY = 16;

/**
 * How the key space is reached: etcd's API, spoken by etcd itself or by kine. Only the transactions kine
 * understands are used (create if absent, update or delete at a known revision), so one code path serves both.
 */
export interface EtcdApiKeyspaceOptions {
  /** What a key's lease is worth in seconds: asked of etcd; kine's lease ID is its TTL. */
  leaseSeconds(lease: string): Promise<number | undefined>;
}

export class EtcdApiKeyspace {
  private readonly client: Etcd3;
  private readonly prefix: string;
  private readonly options: EtcdApiKeyspaceOptions;

  constructor(client: Etcd3, prefix: string, options: EtcdApiKeyspaceOptions) {
    this.client = client;
    this.prefix = prefix;
    this.options = options;
  }

  /** Every key under the prefix at one revision: the first page fixes it, the others read at it. */
  async snapshot(): Promise<KeyspaceSnapshot> {
    const kvs = await this.list();
    const entries: KeyValue[] = [];
    const ttls = new Map<string, number | undefined>();
    for (const kv of kvs.items) {
      const entry: KeyValue = { key: this.relative(kv.key), value: kv.value };
      if (kv.lease !== '0') {
        if (!ttls.has(kv.lease)) ttls.set(kv.lease, await this.options.leaseSeconds(kv.lease));
        const ttl = ttls.get(kv.lease);
        // A lease that has run out: the key is as good as gone.
        if (ttl === undefined || ttl <= 0) continue;
        entry.ttlSeconds = ttl;
      }
      entries.push(entry);
    }
    return { revision: kvs.revision, entries };
  }

  async count(): Promise<number> {
    const response = await this.client.kv.range({
      key: Buffer.from(this.prefix),
      range_end: prefixRangeEnd(this.prefix),
      count_only: true,
    });
    return Number(response.count);
  }

  /**
   * Makes the key space exactly `entries`: creates what is missing, updates what differs, deletes what is not in
   * `entries`, each guarded by the revision it was read at, so a concurrent writer makes it fail rather than be
   * overwritten. Running it again after an interruption finishes the job; identical keys are left alone.
   */
  async replace(entries: readonly KeyValue[]): Promise<ReplaceResult> {
    const current = await this.list();
    const plan = planReplace(
      current.items.map((kv) => ({ key: this.relative(kv.key), value: kv.value, revision: kv.mod_revision })),
      entries,
    );
    const leases = new Map<number, string>();
    const leaseFor = async (ttl: number): Promise<string> => {
      const known = leases.get(ttl);
      if (known) return known;
      const granted = await this.client.leaseClient.leaseGrant({ TTL: ttl });
      leases.set(ttl, granted.ID);
      return granted.ID;
    };
    for (const ttl of new Set(plan.writes.flatMap((write) => (write.ttlSeconds ? [write.ttlSeconds] : [])))) {
      await leaseFor(ttl);
    }
    const operations: (() => Promise<void>)[] = [
      ...plan.writes.map((write) => async () => {
        const key = Buffer.from(this.prefix + write.key);
        const lease = write.ttlSeconds ? leases.get(write.ttlSeconds) : undefined;
        const put: IRequestOp = { request_put: { key, value: write.value, ...(lease ? { lease } : {}) } };
        await this.transact(key, write.revision ?? '0', put, write.revision ? 'update' : 'create');
      }),
      ...plan.deletes.map((doomed) => async () => {
        const key = Buffer.from(this.prefix + doomed.key);
        await this.transact(key, doomed.revision, { request_delete_range: { key } }, 'delete');
      }),
    ];
    await runPooled(operations, WRITE_CONCURRENCY);
    return { written: plan.writes.length, deleted: plan.deletes.length, unchanged: plan.unchanged };
  }

  private async transact(key: Buffer, revision: string, operation: IRequestOp, what: string): Promise<void> {
    const guard = { key, target: 'Mod' as const, result: 'Equal' as const, mod_revision: revision };
    // kine recognises a create by its missing failure branch, an update or delete by a range in it.
    const failure: IRequestOp[] = revision === '0' ? [] : [{ request_range: { key } }];
    const response = await this.client.kv.txn({ compare: [guard], success: [operation], failure });
    if (!response.succeeded) {
      throw new Error(`${what} of ${key.toString()} lost a race: the key changed while the key space was replaced`);
    }
  }

  private relative(key: Buffer): string {
    return key.toString().slice(this.prefix.length);
  }

  /** The prefix's keys, page by page at the revision of the first page. */
  private async list(): Promise<{ revision: number; items: IKeyValue[] }> {
    const end = prefixRangeEnd(this.prefix);
    const items: IKeyValue[] = [];
    let start = Buffer.from(this.prefix);
    let revision: string | undefined;
    for (;;) {
      const page = await this.client.kv.range({
        key: start,
        range_end: end,
        limit: PAGE,
        ...(revision ? { revision } : {}),
      });
      revision ??= page.header.revision;
      items.push(...page.kvs);
      const last = page.kvs.at(-1);
      if (!page.more || !last) break;
      start = Buffer.concat([last.key, Buffer.from([0])]);
    }
    return { revision: Number(revision), items };
  }
}

async function runPooled(operations: readonly (() => Promise<void>)[], width: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < operations.length) {
      const operation = operations[next++];
      if (operation) await operation();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, operations.length) }, worker));
}
