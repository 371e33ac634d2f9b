import type { KubernetesObject } from '@kubernetes/client-node';
import type { ApiCaller } from './apply.ts';
import { builtinResources, hasStatus, resourcePath } from './kube-client.ts';
import { type Log, logToStderr } from './log.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorderOptions {
  client: ApiCaller;
  /** The reporting component, e.g. `kamaji`. */
  component: string;
  /** This replica, e.g. the pod name. */
  instance?: string;
  /** How many distinct events are remembered for aggregation; the least recently recorded are forgotten first. */
  memory?: number;
  log?: Log;
  /** Also log each event, with the object as fields (a Warning at level error): logs then tell a tenant's story. */
  mirrorToLog?: boolean;
}

interface Aggregate {
  namespace: string;
  /** The Event's name once created. */
  name?: string;
  count: number;
  /** Writes for one aggregate run one after another, so repeats never race to create two Events. */
  writing: Promise<void>;
}

const MAX_MESSAGE_LENGTH = 1024;

/**
 * Records core/v1 Events against objects. A repeat of an event (same object, type, reason and message) increments
 * the count and lastTimestamp of the Event already written instead of creating another, as client-go's recorder
 * does; if that Event has expired meanwhile a new one is created.
 */
export class EventRecorder {
  private readonly options: EventRecorderOptions;
  private readonly log: Log;
  private readonly aggregates = new Map<string, Aggregate>();
  private sequence = 0;

  constructor(options: EventRecorderOptions) {
    this.options = options;
    this.log = options.log ?? logToStderr;
  }

  /** Never rejects: an event that cannot be written is logged, and must not fail a reconcile. */
  record(object: KubernetesObject, type: EventType, reason: string, message: string): Promise<void> {
    const note = message.length > MAX_MESSAGE_LENGTH ? `${message.slice(0, MAX_MESSAGE_LENGTH - 3)}...` : message;
    const { namespace, name, uid } = object.metadata ?? {};
    if (this.options.mirrorToLog) {
      this.log(note, {
        level: type === 'Warning' ? 'error' : 'info',
        kind: object.kind,
        namespace,
        name,
        reason,
      });
    }
    const key = [object.kind, namespace, name, uid, type, reason, note].join('\u0000');
    const aggregate = this.remember(key, namespace);
    aggregate.writing = aggregate.writing
      .then(() => this.write(aggregate, object, type, reason, note))
      .catch((error: unknown) => {
        this.log(`event ${reason} on ${object.kind} ${namespace ?? ''}/${name}: ${(error as Error).message}`);
      });
    return aggregate.writing;
  }

  private remember(key: string, namespace: string | undefined): Aggregate {
    let aggregate = this.aggregates.get(key);
    if (aggregate) this.aggregates.delete(key);
    // Events about cluster-scoped objects go to the default namespace, as with client-go.
    aggregate ??= { namespace: namespace || 'default', count: 0, writing: Promise.resolve() };
    this.aggregates.set(key, aggregate);
    const limit = this.options.memory ?? 4096;
    for (const oldest of this.aggregates.keys()) {
      if (this.aggregates.size <= limit) break;
      this.aggregates.delete(oldest);
    }
    return aggregate;
  }

  private async write(
    aggregate: Aggregate,
    object: KubernetesObject,
    type: EventType,
    reason: string,
    message: string,
  ): Promise<void> {
    const { client } = this.options;
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    if (aggregate.name) {
      const path = resourcePath(builtinResources.event, { namespace: aggregate.namespace, name: aggregate.name });
      try {
        await client.request('PATCH', path, {
          body: { count: aggregate.count + 1, lastTimestamp: now },
          contentType: 'application/merge-patch+json',
        });
        aggregate.count += 1;
        return;
      } catch (error) {
        if (!hasStatus(error, 404)) throw error;
      }
    }
    const { apiVersion, kind, metadata = {} } = object;
    const name = `${metadata.name}.${this.uniqueSuffix()}`;
    await client.request('POST', resourcePath(builtinResources.event, { namespace: aggregate.namespace }), {
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name, namespace: aggregate.namespace },
        involvedObject: {
          apiVersion,
          kind,
          name: metadata.name,
          namespace: metadata.namespace,
          uid: metadata.uid,
          resourceVersion: metadata.resourceVersion,
        },
        type,
        reason,
        message,
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: this.options.component },
        reportingComponent: this.options.component,
        reportingInstance: this.options.instance,
      },
    });
    aggregate.name = name;
    aggregate.count = 1;
  }

  /** Like client-go's `<name>.<unix nanoseconds in hex>`, with a counter so two events in one millisecond differ. */
  private uniqueSuffix(): string {
    this.sequence = (this.sequence + 1) % 1_000_000;
    return (BigInt(Date.now()) * 1_000_000n + BigInt(this.sequence)).toString(16);
  }
}
