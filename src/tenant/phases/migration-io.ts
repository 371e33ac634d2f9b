import { serverSideApply } from '../../controller/apply.ts';
import { accessFromKubeconfig } from '../../controller/cluster-access.ts';
import { ApiError, hasStatus, KubeClient, resourcePath } from '../../controller/kube-client.ts';
import type { DataStoreConnection } from '../../datastore/connections.ts';
import type { TenantStorage } from '../../datastore/driver.ts';
import { type KeyspaceOptions, type KeyValue, openTenantKeyspace } from '../../datastore/keyspace/keyspace.ts';
import { FREEZE_NAME, FREEZE_PROBE, freezeMessage, freezeObjects, freezeResources } from '../steps/freeze.ts';
import type { TenantConnection } from '../tenant-clients.ts';

/** The I/O of a migration: the freeze in the tenant, and the copy of its key space between two DataStores. */

/** Refusals in a row, per control-plane replica, that count as the freeze being enforced by every replica. */
const PROBES_PER_REPLICA = 4;
const FREEZE_TIMEOUT_MS = 30_000;
const PROBE_INTERVAL_MS = 100;
/** One probe's answer: a connection that found an API server on its way out must not use up the whole wait. */
const PROBE_TIMEOUT_MS = 2_000;
const probeOptions = { query: FREEZE_PROBE.query, body: FREEZE_PROBE.body, timeoutMs: PROBE_TIMEOUT_MS };
/** Copies redone when the source changed during one (a write admitted just before the freeze took effect). */
const COPY_ATTEMPTS = 3;

/**
 * Puts the freeze in the tenant and returns once it is enforced: a dry-run write refused with the freeze's message
 * PROBES_PER_REPLICA × replicas times in a row (see `probeInARow`).
 */
export async function freezeTenant(
  tenant: TenantConnection,
  source: string,
  target: string,
  replicas: number,
): Promise<void> {
  for (const { type, object } of freezeObjects(source, target)) await serverSideApply(tenant.caller, type, object);
  const message = freezeMessage(source, target);
  const outcome = await probeInARow(tenant, replicas, FREEZE_TIMEOUT_MS, async (client) => {
    try {
      await client.request('POST', FREEZE_PROBE.path, probeOptions);
      return false;
    } catch (error) {
      if (error instanceof ApiError && error.message.includes(message)) return true;
      throw error;
    }
  });
  if (outcome !== 'done') {
    throw new Error(
      `the write freeze was not enforced by every API server of the tenant within ${FREEZE_TIMEOUT_MS / 1000} s (${outcome}); check that the ValidatingAdmissionPolicy admission plugin is enabled`,
    );
  }
}

/**
 * Removes the freeze (binding first, so the policy is never bound to nothing) and returns true once writes are
 * accepted PROBES_PER_REPLICA × replicas times in a row (within `budgetMs`). A probe still refused deletes again,
 * over a new connection: every API server loads policies on its own. Only call it when every API server serves
 * the DataStore the data is on (before the switch, or once the replaced pods are gone).
 */
export async function thawTenant(tenant: TenantConnection, replicas: number, budgetMs: number): Promise<boolean> {
  const outcome = await probeInARow(tenant, replicas, budgetMs, async (client) => {
    try {
      await client.request('POST', FREEZE_PROBE.path, probeOptions);
      return true;
    } catch (error) {
      if (!(error instanceof ApiError) || !error.message.includes(FREEZE_NAME)) throw error;
      for (const type of [freezeResources.binding, freezeResources.policy]) {
        const path = resourcePath(type, { name: FREEZE_NAME });
        await client.request('DELETE', path, { timeoutMs: PROBE_TIMEOUT_MS }).catch((deleteError: unknown) => {
          if (!hasStatus(deleteError, 404)) throw deleteError;
        });
      }
      return false;
    }
  });
  return outcome === 'done';
}

/**
 * Probes until `probe` holds PROBES_PER_REPLICA × replicas times in a row, each on a new connection, so that the
 * tenant's Service spreads them over its API servers (each loads admission policies on its own, from a watch).
 * No answer or a server error (an API server going away in a rollout) is a miss; another refusal is an error.
 * Returns 'done', or what was seen when the budget ran out.
 */
async function probeInARow(
  tenant: TenantConnection,
  replicas: number,
  budgetMs: number,
  probe: (client: KubeClient) => Promise<boolean>,
): Promise<string> {
  const access = accessFromKubeconfig(tenant.kubeconfig, '/', tenant.secret);
  const deadline = Date.now() + budgetMs;
  const wanted = PROBES_PER_REPLICA * Math.max(1, replicas);
  let last = 'no probe answered';
  for (let inARow = 0; inARow < wanted; ) {
    if (Date.now() > deadline) return `${inARow} of ${wanted} probes in a row; last: ${last}`;
    const client = new KubeClient(access, { maxSockets: 1 });
    try {
      const held = await probe(client);
      inARow = held ? inARow + 1 : 0;
      last = held ? 'as wanted' : 'not yet';
    } catch (error) {
      if (error instanceof ApiError && error.status < 500) throw error;
      inARow = 0;
      last = (error as Error).message;
    } finally {
      client.close();
    }
    if (inARow === 0) await new Promise((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS));
  }
  return 'done';
}

/**
 * Makes the target's key space exactly the source's at one revision, and checks it: the target holds as many keys
 * as were read, and a second read of the source finds the same entries (otherwise a write that was already past
 * admission when the freeze took effect landed during the copy, and it is copied again). Returns the keys copied.
 */
export async function copyKeyspace(
  source: DataStoreConnection,
  target: DataStoreConnection,
  storage: TenantStorage,
  options?: KeyspaceOptions,
): Promise<number> {
  const from = await openTenantKeyspace(source.resolved, storage, options);
  try {
    const to = await openTenantKeyspace(target.resolved, storage, options);
    try {
      for (let attempt = 1; attempt <= COPY_ATTEMPTS; attempt++) {
        const { entries } = await from.snapshot();
        await to.replace(entries);
        const copied = await to.count();
        if (copied !== entries.length) {
          throw new Error(`${entries.length} keys were written but the target holds ${copied}`);
        }
        if (sameEntries(entries, (await from.snapshot()).entries)) return copied;
      }
      throw new Error(`the source kept changing during ${COPY_ATTEMPTS} copies although writes are frozen`);
    } finally {
      await to.close();
    }
  } finally {
    await from.close();
  }
}

/** The same keys with the same values (in any order). */
export function sameEntries(a: readonly KeyValue[], b: readonly KeyValue[]): boolean {
  if (a.length !== b.length) return false;
  const values = new Map(a.map((entry) => [entry.key, entry.value]));
  return b.every((entry) => values.get(entry.key)?.equals(entry.value) === true);
}
