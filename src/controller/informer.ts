import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  ApiError,
  hasStatus,
  type KubeClient,
  objectKey,
  type Query,
  type ResourceType,
  resourcePath,
} from './kube-client.ts';
import { type Log, logToStderr } from './log.ts';

export interface InformerHandler<T> {
  onAdd?(object: T): void;
  onUpdate?(previous: T, object: T): void;
  onDelete?(object: T): void;
}

export interface InformerOptions<T extends KubernetesObject> {
  client: KubeClient;
  type: ResourceType;
  /** Only this namespace; all namespaces when omitted. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Ask the API server for PartialObjectMetadata: for owned objects only their labels, annotations and owners
   * matter, and a Secret's data then never crosses the wire nor sits in memory.
   */
  metadataOnly?: boolean;
  /**
   * Trims each object before it is stored and handed to handlers; the default drops managedFields. Keep
   * metadata.resourceVersion: a relist compares it to tell which objects changed.
   */
  transform?: (object: KubernetesObject) => T;
  /** Objects per list page. */
  pageSize?: number;
  /** How long the API server keeps one watch open; by default 5 to 10 minutes, spread like client-go. */
  watchTimeoutSeconds?: number;
  log?: Log;
}

interface ObjectList {
  metadata?: { resourceVersion?: string; continue?: string };
  /** Absent from an empty PartialObjectMetadataList. */
  items?: KubernetesObject[] | null;
}

interface WatchEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: KubernetesObject;
}

const RETRY_BASE_MS = 200;
const RETRY_MAX_MS = 30_000;
const WATCH_IDLE_MARGIN_MS = 60_000;
const QUIET_WATCH_MS = 1_000;

/**
 * A list+watch cache of one resource type, keyed by `namespace/name`. A dropped watch resumes from the last
 * resourceVersion seen (kept fresh by bookmarks); a 410 Gone (history compacted) relists, and the relist is
 * compared with the store so handlers hear only real changes, including deletions missed meanwhile.
 * Stored objects are plain JSON: timestamps are strings.
 */
export class Informer<T extends KubernetesObject = KubernetesObject> {
  private readonly options: InformerOptions<T>;
  private readonly transform: (object: KubernetesObject) => T;
  private readonly log: Log;
  private readonly handlers: InformerHandler<T>[] = [];
  private store = new Map<string, T>();
  private resourceVersion: string | undefined;
  private synced = false;
  private readonly firstSync = Promise.withResolvers<void>();
  private readonly stopping = new AbortController();
  private running: Promise<void> | undefined;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.transform = options.transform ?? (withoutManagedFields as (object: KubernetesObject) => T);
    this.log = options.log ?? logToStderr;
    // Nobody may be waiting for the first sync when the informer is stopped early.
    this.firstSync.promise.catch(() => {});
  }

  get name(): string {
    const { type, namespace, labelSelector } = this.options;
    return `${type.plural}${namespace ? ` in ${namespace}` : ''}${labelSelector ? ` (${labelSelector})` : ''}`;
  }

  /** Handlers added after the first sync hear every stored object as an add first. */
  addHandler(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
    if (this.synced) for (const object of this.store.values()) this.call(handler, 'onAdd', object);
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.firstSync.reject(new Error(`informer for ${this.name} stopped before its first sync`));
    await this.running;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list is stored; rejects if the informer is stopped before. */
  waitForSync(): Promise<void> {
    return this.firstSync.promise;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  get size(): number {
    return this.store.size;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopping.signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist();
        const opened = Date.now();
        const eventsSeen = await this.watch();
        // A watch the server ends at once without a word is a failure too, or it would be retried in a tight loop.
        if (eventsSeen > 0) failures = 0;
        else if (Date.now() - opened < QUIET_WATCH_MS) failures += 1;
      } catch (error) {
        if (this.stopping.signal.aborted) break;
        if (hasStatus(error, 410)) {
          this.resourceVersion = undefined;
          continue;
        }
        failures += 1;
        this.log(`informer for ${this.name}: ${(error as Error).message}; retrying`);
      }
      if (failures > 0) {
        const delay = Math.min(RETRY_BASE_MS * 2 ** (failures - 1), RETRY_MAX_MS);
        await sleep(delay, undefined, { signal: this.stopping.signal }).catch(() => {});
      }
    }
  }

  private selectors(): Query {
    return { labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector };
  }

  private async relist(): Promise<void> {
    const { client, type, namespace, pageSize = 500, metadataOnly } = this.options;
    const path = resourcePath(type, { namespace });
    const accept = metadataOnly ? 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' : undefined;
    const fresh = new Map<string, T>();
    let continueToken: string | undefined;
    let listVersion: string | undefined;
    do {
      const page = await client.request<ObjectList>('GET', path, {
        query: { ...this.selectors(), limit: pageSize, continue: continueToken },
        accept,
        signal: this.stopping.signal,
      });
      for (const item of page.items ?? []) fresh.set(objectKey(item), this.transform(item));
      continueToken = page.metadata?.continue;
      listVersion = page.metadata?.resourceVersion;
    } while (continueToken);

    const previous = this.store;
    this.store = fresh;
    this.resourceVersion = listVersion;
    for (const [key, object] of fresh) {
      const before = previous.get(key);
      if (!before) this.notify('onAdd', object);
      else if (before.metadata?.resourceVersion !== object.metadata?.resourceVersion)
        this.notify('onUpdate', object, before);
    }
    for (const [key, object] of previous) if (!fresh.has(key)) this.notify('onDelete', object);
    if (!this.synced) {
      this.synced = true;
      this.firstSync.resolve();
    }
  }

  /** One watch connection, until the server ends it; returns how many events it carried. */
  private async watch(): Promise<number> {
    const { client, type, namespace, metadataOnly } = this.options;
    const timeoutSeconds = this.options.watchTimeoutSeconds ?? Math.floor(300 + Math.random() * 300);
    const response = await client.stream(resourcePath(type, { namespace }), {
      query: {
        ...this.selectors(),
        watch: true,
        resourceVersion: this.resourceVersion,
        allowWatchBookmarks: true,
        timeoutSeconds,
      },
      accept: metadataOnly ? 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1' : undefined,
      signal: this.stopping.signal,
      timeoutMs: timeoutSeconds * 1000 + WATCH_IDLE_MARGIN_MS,
    });
    response.setEncoding('utf8');
    let events = 0;
    let pending = '';
    for await (const chunk of response) {
      const lines = (pending + (chunk as string)).split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        this.apply(JSON.parse(line) as WatchEvent);
        events += 1;
      }
    }
    return events;
  }

  private apply(event: WatchEvent): void {
    if (event.type === 'ERROR') throw ApiError.fromStatus(event.object, 500, `watch ${this.name}`);
    const version = event.object.metadata?.resourceVersion;
    if (event.type !== 'BOOKMARK') {
      const key = objectKey(event.object);
      const object = this.transform(event.object);
      const before = this.store.get(key);
      if (event.type === 'DELETED') {
        this.store.delete(key);
        this.notify('onDelete', before ?? object);
      } else {
        this.store.set(key, object);
        if (before) this.notify('onUpdate', object, before);
        else this.notify('onAdd', object);
      }
    }
    if (version) this.resourceVersion = version;
  }

  private notify(kind: keyof InformerHandler<T>, object: T, previous?: T): void {
    for (const handler of this.handlers) this.call(handler, kind, object, previous);
  }

  private call(handler: InformerHandler<T>, kind: keyof InformerHandler<T>, object: T, previous?: T): void {
    try {
      if (kind === 'onUpdate') handler.onUpdate?.(previous ?? object, object);
      else handler[kind]?.(object);
    } catch (error) {
      this.log(`informer for ${this.name}: ${kind} handler failed: ${(error as Error).message}`);
    }
  }
}

/** The default transform: managedFields are often the largest part of an object and no controller reads them. */
export function withoutManagedFields(object: KubernetesObject): KubernetesObject {
  if (!object.metadata?.managedFields) return object;
  const { managedFields: _dropped, ...metadata } = object.metadata;
  return { ...object, metadata };
}
