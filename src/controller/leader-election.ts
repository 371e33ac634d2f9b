import { setTimeout as sleep } from 'node:timers/promises';
import { builtinResources, hasStatus, type KubeClient, resourcePath } from './kube-client.ts';
import { type Log, logToStderr } from './log.ts';

/** coordination.k8s.io/v1 LeaseSpec as JSON: times are RFC 3339 with microseconds. */
export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  acquireTime?: string;
  renewTime?: string;
  leaseTransitions?: number;
}

interface Lease {
  apiVersion: 'coordination.k8s.io/v1';
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: LeaseSpec;
}

export interface LeaderElectionOptions {
  client: KubeClient;
  namespace: string;
  name: string;
  /** Unique per replica, e.g. the pod name plus a random suffix. */
  identity: string;
  /** How long others wait, after the lease last changed, before they may take it. */
  leaseDurationMs?: number;
  /** How long the leader keeps trying to renew before it steps down; shorter than the lease, so it steps down first. */
  renewDeadlineMs?: number;
  /** Between attempts to acquire or renew. */
  retryPeriodMs?: number;
  /** Clear holderIdentity on stop, so that another replica takes over at once instead of after the lease duration. */
  releaseOnStop?: boolean;
  /** Called on becoming leader; the signal aborts when leadership ends. */
  onStartedLeading?: (leadership: AbortSignal) => void;
  /**
   * Called when leadership ends: lost (renewal failed for the whole renew deadline, or another replica holds the
   * lease) or stopped. Like client-go, the elector does not campaign again.
   */
  onStoppedLeading?: (end: LeadershipEnd) => void;
  log?: Log;
}

/** Why leadership ended: `stop()` was called, or the lease was lost (`detail` says how). */
export type LeadershipEnd = { reason: 'stopped' } | { reason: 'lost'; detail: string };

/** What a replica that lost the lease stops with, so that its caller can tell it from other failures. */
export class LeadershipLostError extends Error {
  constructor(detail: string) {
    super(`leadership lost: ${detail}`);
    this.name = 'LeadershipLostError';
  }
}

/** One attempt at the lease: held by this replica now, or not (with the holder when another replica holds it). */
type Attempt = { held: true } | { held: false; holder?: string };

/** Formats a time as metav1.MicroTime: the API server insists on exactly six fractional digits. */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Whether `identity` may write the lease now. Expiry is judged by when this replica last saw the lease change (on
 * its own clock), not by the renewTime written on another machine's clock, as client-go does.
 */
export function mayHoldLease(spec: LeaseSpec, identity: string, lastChangeSeenAt: number, now: number): boolean {
  const holder = spec.holderIdentity ?? '';
  if (holder === '' || holder === identity) return true;
  return lastChangeSeenAt + (spec.leaseDurationSeconds ?? 0) * 1000 <= now;
}

interface Timing {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

/** Leader election on a Lease, like client-go's leaderelection with a LeaseLock. */
export class LeaderElector {
  private readonly options: LeaderElectionOptions;
  private readonly timing: Timing;
  private readonly log: Log;
  private readonly path: string;
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;
  private leading = false;
  private lease: Lease | undefined;
  private seenRecord = '';
  private seenAt = 0;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.timing = {
      leaseDurationMs: options.leaseDurationMs ?? 15_000,
      renewDeadlineMs: options.renewDeadlineMs ?? 10_000,
      retryPeriodMs: options.retryPeriodMs ?? 2_000,
    };
    const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = this.timing;
    if (!(retryPeriodMs < renewDeadlineMs && renewDeadlineMs < leaseDurationMs)) {
      throw new Error('leader election needs retryPeriod < renewDeadline < leaseDuration');
    }
    this.log = options.log ?? logToStderr;
    this.path = resourcePath(builtinResources.lease, { namespace: options.namespace, name: options.name });
  }

  isLeader(): boolean {
    return this.leading;
  }

  /** The holder this replica last saw on the lease ('' when released or not yet read). */
  get leader(): string {
    return this.lease?.spec?.holderIdentity ?? '';
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops campaigning or leading; a leader releases the lease (unless releaseOnStop is false). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
  }

  private async run(): Promise<void> {
    const { retryPeriodMs, renewDeadlineMs } = this.timing;
    const signal = this.stopping.signal;
    while (!(await this.tryAcquireOrRenew(retryPeriodMs)).held) {
      // Jitter, as client-go does, so that replicas started together do not collide at every attempt.
      if (!(await pause(retryPeriodMs * (1 + Math.random() * 1.2), signal))) return;
    }
    const releaseOnStop = this.options.releaseOnStop ?? true;
    if (signal.aborted) {
      // Acquired just as stop came.
      if (releaseOnStop) await this.release();
      return;
    }
    const leadership = new AbortController();
    this.leading = true;
    this.options.onStartedLeading?.(leadership.signal);
    let renewedAt = Date.now();
    let lost: string | undefined;
    while (lost === undefined && (await pause(retryPeriodMs, signal))) {
      const remaining = renewDeadlineMs - (Date.now() - renewedAt);
      const attempt = await this.tryAcquireOrRenew(remaining);
      if (attempt.held) renewedAt = Date.now();
      else if (attempt.holder !== undefined) {
        // Another replica holds it (it saw the lease expire, or it was handed over): waiting out the renew
        // deadline, as client-go does, would only let two leaders work side by side.
        lost = `${this.path} is held by ${attempt.holder}`;
      } else if (Date.now() - renewedAt >= renewDeadlineMs) {
        lost = `could not renew ${this.path} within the renew deadline (${renewDeadlineMs} ms)`;
      }
    }
    this.leading = false;
    leadership.abort();
    if (lost !== undefined) {
      this.log(`leader election: ${this.options.identity} lost the lease: ${lost}; stepping down`);
      this.options.onStoppedLeading?.({ reason: 'lost', detail: lost });
      return;
    }
    this.options.onStoppedLeading?.({ reason: 'stopped' });
    if (releaseOnStop) await this.release();
  }

  /** One attempt; not held when another replica holds the lease or the API server could not be reached. */
  private async tryAcquireOrRenew(timeoutMs: number): Promise<Attempt> {
    const { client, identity } = this.options;
    const call = { timeoutMs: Math.max(timeoutMs, 1), signal: this.stopping.signal };
    try {
      // The leader first renews the version it wrote last, saving a read; on a conflict it reads the lease anew.
      if (this.leading && this.lease) {
        try {
          this.observe(await client.request<Lease>('PUT', this.path, { ...call, body: this.claim(this.lease) }));
          return { held: true };
        } catch (error) {
          if (this.stopping.signal.aborted) return { held: false };
          if (!hasStatus(error, 409)) throw error;
        }
      }
      let lease: Lease | undefined;
      try {
        lease = await client.request<Lease>('GET', this.path, call);
      } catch (error) {
        if (!hasStatus(error, 404)) throw error;
      }
      if (!lease) {
        const fresh: Lease = {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: this.options.name, namespace: this.options.namespace },
        };
        const collection = resourcePath(builtinResources.lease, { namespace: this.options.namespace });
        this.observe(await client.request<Lease>('POST', collection, { ...call, body: this.claim(fresh) }));
        return { held: true };
      }
      this.observe(lease);
      if (!mayHoldLease(lease.spec ?? {}, identity, this.seenAt, Date.now())) {
        return { held: false, holder: lease.spec?.holderIdentity ?? '' };
      }
      // The resourceVersion read above makes this a compare-and-swap: a concurrent writer gets a 409.
      this.observe(await client.request<Lease>('PUT', this.path, { ...call, body: this.claim(lease) }));
      return { held: true };
    } catch (error) {
      if (!this.stopping.signal.aborted && !hasStatus(error, 409)) {
        this.log(`leader election: ${identity} on ${this.path}: ${(error as Error).message}`);
      }
      return { held: false };
    }
  }

  /** The lease held by this replica from now: renewed if it held it already, else acquired (one more transition). */
  private claim(lease: Lease): Lease {
    const spec = lease.spec ?? {};
    const now = microTime(Date.now());
    const renewing = spec.holderIdentity === this.options.identity;
    const transitions = spec.leaseTransitions ?? 0;
    return {
      ...lease,
      spec: {
        holderIdentity: this.options.identity,
        leaseDurationSeconds: Math.ceil(this.timing.leaseDurationMs / 1000),
        acquireTime: renewing ? spec.acquireTime : now,
        renewTime: now,
        leaseTransitions: renewing || lease.spec === undefined ? transitions : transitions + 1,
      },
    };
  }

  private observe(lease: Lease): void {
    this.lease = lease;
    const record = JSON.stringify(lease.spec ?? {});
    if (record !== this.seenRecord) {
      this.seenRecord = record;
      this.seenAt = Date.now();
    }
  }

  private async release(): Promise<void> {
    const { client, identity } = this.options;
    const call = { timeoutMs: this.timing.retryPeriodMs };
    try {
      // A renewal cut short by stop may still have been written, leaving the version known here stale: on a
      // conflict, read the lease again and release it if it is still this replica's.
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const lease = attempt === 0 ? this.lease : await client.request<Lease>('GET', this.path, call);
        if (lease?.spec?.holderIdentity !== identity) return;
        const now = microTime(Date.now());
        const spec = {
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: lease.spec.leaseTransitions,
        };
        try {
          this.lease = await client.request<Lease>('PUT', this.path, { ...call, body: { ...lease, spec } });
          return;
        } catch (error) {
          if (!hasStatus(error, 409)) throw error;
        }
      }
    } catch (error) {
      this.log(`leader election: releasing ${this.path}: ${(error as Error).message}`);
    }
  }
}

/** Waits, or returns false at once when the signal aborts. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}
