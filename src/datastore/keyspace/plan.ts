/** One key of a tenant, relative to its `/<schema>/` prefix, so it can be written under another schema. */
export interface KeyValue {
  key: string;
  value: Buffer;
  /** Set when the key was under a lease (events): what was left of it, granted anew where it is written. */
  ttlSeconds?: number;
}

/** A tenant's keys as they were at one revision of the datastore they were read from. */
export interface KeyspaceSnapshot {
  revision: number;
  entries: KeyValue[];
}

export interface ReplaceResult {
  written: number;
  deleted: number;
  unchanged: number;
}

/** A key as it is now where it is to be replaced, with the revision a write to it is guarded by. */
export interface CurrentKey {
  key: string;
  value: Buffer;
  revision: string;
}

export interface ReplacePlan {
  /** `revision` set: update at it; unset: create. */
  writes: (KeyValue & { revision?: string })[];
  deletes: { key: string; revision: string }[];
  unchanged: number;
}

/**
 * What turns `current` into exactly `wanted`: keys with the same value (and no lease) are left alone, so a replace
 * that was interrupted and runs again only does what is left.
 */
export function planReplace(current: readonly CurrentKey[], wanted: readonly KeyValue[]): ReplacePlan {
  const existing = new Map(current.map((kv) => [kv.key, kv]));
  const plan: ReplacePlan = { writes: [], deletes: [], unchanged: 0 };
  const seen = new Set<string>();
  for (const entry of wanted) {
    if (seen.has(entry.key)) throw new Error(`the key ${entry.key} appears twice`);
    seen.add(entry.key);
    const there = existing.get(entry.key);
    if (!there) plan.writes.push(entry);
    else if (there.value.equals(entry.value) && !entry.ttlSeconds) plan.unchanged++;
    else plan.writes.push({ ...entry, revision: there.revision });
  }
  for (const kv of current) {
    if (!seen.has(kv.key)) plan.deletes.push({ key: kv.key, revision: kv.revision });
  }
  return plan;
}
