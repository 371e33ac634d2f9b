import { accessFromKubeconfig } from '../../src/controller/cluster-access.ts';
import { ApiError, builtinResources, KubeClient, resourcePath } from '../../src/controller/kube-client.ts';
import { FREEZE_NAME } from '../../src/tenant/steps/freeze.ts';

/** The label that numbers each ConfigMap the writer creates, and the one that names the writer's run. */
export const SEQUENCE_LABEL = 'kamaji.test/sequence';
export const RUN_LABEL = 'kamaji.test/run';

export interface WriterReport {
  /** Sequence numbers whose creation was answered 201. */
  acknowledged: number[];
  /** Refusals, by message (with how many times each came). */
  refused: Map<string, number>;
  /** Sequence numbers with no answer or another error: they may or may not exist. */
  unknown: number[];
  /** What those errors said. */
  errors: Set<string>;
  /** The first and last refusal, ms since the writer started (the freeze as clients saw it). */
  refusedFrom?: number;
  refusedUntil?: number;
}

/**
 * A client of a tenant creating ConfigMaps one after another in `namespace` for as long as it runs, each with a
 * generated name and its sequence number as a label, so that afterwards every acknowledged creation can be
 * looked for, and counted: it must exist exactly once.
 */
export class ConfigMapWriter {
  private readonly client: KubeClient;
  private readonly path: string;
  private stopped = false;
  private running: Promise<void> | undefined;
  readonly report: WriterReport = { acknowledged: [], refused: new Map(), unknown: [], errors: new Set() };

  private readonly run: string;

  /** `run` tells this writer's ConfigMaps from those of earlier ones in the same namespace. */
  constructor(kubeconfig: string, namespace: string, run: string) {
    this.run = run;
    this.client = new KubeClient(accessFromKubeconfig(kubeconfig, '/', 'tenant kubeconfig'), { maxSockets: 1 });
    this.path = resourcePath(builtinResources.configMap, { namespace });
  }

  start(intervalMs = 25): void {
    const started = performance.now();
    this.running = (async () => {
      for (let sequence = 0; !this.stopped; sequence++) {
        const body = {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: {
            generateName: `${this.run}-`,
            labels: { [RUN_LABEL]: this.run, [SEQUENCE_LABEL]: String(sequence) },
          },
          data: { sequence: String(sequence) },
        };
        try {
          await this.client.request('POST', this.path, { body, timeoutMs: 5_000 });
          this.report.acknowledged.push(sequence);
        } catch (error) {
          if (error instanceof ApiError && error.status === 403 && error.message.includes(FREEZE_NAME)) {
            const message = error.message.replace(/^.*?denied request: /, '');
            this.report.refused.set(message, (this.report.refused.get(message) ?? 0) + 1);
            const at = performance.now() - started;
            this.report.refusedFrom ??= at;
            this.report.refusedUntil = at;
          } else {
            this.report.unknown.push(sequence);
            this.report.errors.add((error as Error).message);
          }
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    })();
  }

  async stop(): Promise<WriterReport> {
    this.stopped = true;
    await this.running;
    return this.report;
  }

  close(): void {
    this.client.close();
  }

  /** How many ConfigMaps carry each sequence number now. */
  async stored(): Promise<Map<number, number>> {
    const list = await this.client.request<{ items: { metadata: { labels?: Record<string, string> } }[] }>(
      'GET',
      this.path,
      { query: { labelSelector: `${RUN_LABEL}=${this.run}` } },
    );
    const counts = new Map<number, number>();
    for (const item of list.items) {
      const sequence = Number(item.metadata.labels?.[SEQUENCE_LABEL]);
      counts.set(sequence, (counts.get(sequence) ?? 0) + 1);
    }
    return counts;
  }
}
