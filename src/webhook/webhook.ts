import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DataStore } from '../api/v1alpha1/datastore.ts';
import type { TenantControlPlane } from '../api/v1alpha1/tenant-control-plane.ts';
import type { HealthCheck } from '../controller/health.ts';
import { Informer } from '../controller/informer.ts';
import { builtinResources, type KubeClient } from '../controller/kube-client.ts';
import type { Log } from '../controller/log.ts';
import { readSecretData } from '../controller/secret-data.ts';
import { runWorkers, WorkQueue } from '../controller/work-queue.ts';
import { type KeyAlgorithm, needsRenewal } from '../pki/certificates.ts';
import type { AdmissionRequest } from './admission.ts';
import {
  ensureCertificateSecret,
  injectCaBundle,
  SECRET_KEYS,
  serviceNames,
  type WebhookConfiguration,
  webhookConfigurationResources,
} from './certificates.ts';
import { defaultTenantControlPlane, type ReviewContext, reviewDataStore, reviewTenantControlPlane } from './review.ts';
import { type Reviewer, startWebhookServer } from './server.ts';

/** The paths the webhook configurations call (controller-runtime's naming, as upstream Kamaji's). */
export const WEBHOOK_PATHS = {
  validateTenantControlPlane: '/validate-kamaji-clastix-io-v1alpha1-tenantcontrolplane',
  mutateTenantControlPlane: '/mutate-kamaji-clastix-io-v1alpha1-tenantcontrolplane',
  validateDataStore: '/validate-kamaji-clastix-io-v1alpha1-datastore',
} as const;

export interface NamespacedName {
  namespace: string;
  name: string;
}

export function parseNamespacedName(text: string, flag: string): NamespacedName {
  const [namespace, name, ...rest] = text.split('/');
  if (!namespace || !name || rest.length > 0) throw new Error(`${flag} must be <namespace>/<name>, not "${text}"`);
  return { namespace, name };
}

/** Where the serving certificate comes from. */
export type CertificateSource =
  /** The operator's own: a CA and serving certificate in `secret`, the CA injected into the configurations. */
  | {
      kind: 'secret';
      service: NamespacedName;
      secret: NamespacedName;
      /** More DNS names or IPs for the serving certificate, e.g. 127.0.0.1 when the API server dials a URL. */
      extraNames?: readonly string[];
      validatingConfiguration?: string;
      mutatingConfiguration?: string;
    }
  /** tls.crt and tls.key mounted from elsewhere (cert-manager); its CA injector fills caBundle. */
  | { kind: 'directory'; dir: string };

/** What the manager's flags say about the webhooks. */
export interface WebhookServing {
  /** `host:port` of the HTTPS server. */
  address: string;
  certificates: CertificateSource;
  /** How often certificates and caBundle are checked besides when they change. */
  resyncMs?: number;
}

export interface WebhookOptions extends WebhookServing {
  client: KubeClient;
  /** The manager's own caches, which every replica runs (not only the leader). */
  tenants: Informer<TenantControlPlane>;
  dataStores: Informer<DataStore>;
  defaultDataStore?: string;
  keyAlgorithm: KeyAlgorithm;
  log: Log;
}

export interface RunningWebhooks {
  url: string;
  /** For /readyz: serving, with the certificate the Secret (or directory) holds now, and the caches synced. */
  readiness: HealthCheck;
  stop(): Promise<void>;
}

const SECRET_RESYNC_MS = 10 * 60_000;
const DIRECTORY_RESYNC_MS = 60_000;
const KEY = 'certificates';

/**
 * The admission webhooks: an HTTPS server on every replica, and a loop that keeps its certificate and the
 * configurations' caBundle current (on start, when the Secret or a configuration changes, and every `resyncMs`).
 */
export async function startWebhooks(options: WebhookOptions): Promise<RunningWebhooks> {
  const { client, tenants, dataStores, log, certificates: source } = options;
  const context: ReviewContext = {
    defaultDataStore: options.defaultDataStore,
    dataStore: (name) => dataStores.get(name),
    tenants: () => tenants.list(),
    readSecret: (namespace, name) => readSecretData(client, namespace, name),
  };
  const synced = () => tenants.hasSynced() && dataStores.hasSynced();
  // Before the caches are filled every DataStore would look missing: an error lets the failurePolicy decide.
  const whenSynced =
    (review: Reviewer): Reviewer =>
    async (input) => {
      if (!synced()) throw new Error('the caches of TenantControlPlanes and DataStores are not synced yet');
      return review(input);
    };
  const server = await startWebhookServer({
    address: options.address,
    log,
    routes: {
      [WEBHOOK_PATHS.validateTenantControlPlane]: whenSynced(async ({ request }) =>
        reviewTenantControlPlane(request as AdmissionRequest<TenantControlPlane>, context),
      ),
      [WEBHOOK_PATHS.mutateTenantControlPlane]: async ({ request }) =>
        defaultTenantControlPlane(request as AdmissionRequest<TenantControlPlane>, context),
      [WEBHOOK_PATHS.validateDataStore]: whenSynced(({ request }) =>
        reviewDataStore(request as AdmissionRequest<DataStore>, context),
      ),
    },
  });

  let wanted: string | undefined;
  const informers: Informer[] = [];
  const queue = new WorkQueue({ baseDelayMs: 500, maxDelayMs: 60_000 });
  const resync = () => queue.add(KEY);
  let keep: () => Promise<void>;
  let dirWatcher: FSWatcher | undefined;
  if (source.kind === 'directory') {
    // The kubelet swaps a mounted Secret's files by renaming a symlink: a change in the directory is the cue, and
    // the periodic re-read covers a missed one.
    dirWatcher = watch(source.dir, resync);
    dirWatcher.on('error', (error) => log(`webhook: watching ${source.dir}: ${error.message}`, { level: 'error' }));
    keep = async () => {
      const [certificate, key] = await Promise.all([
        readFile(join(source.dir, SECRET_KEYS.certificate), 'utf8'),
        readFile(join(source.dir, SECRET_KEYS.key), 'utf8'),
      ]);
      wanted = certificate;
      if (server.certificatePem !== certificate) {
        server.useCertificate(certificate, key);
        log(`webhook: serving the certificate from ${source.dir}`);
      }
    };
  } else {
    const names = [...serviceNames(source.service), ...(source.extraNames ?? [])];
    const watch = (informer: Informer) => {
      informer.addHandler({ onAdd: resync, onUpdate: resync, onDelete: resync });
      informers.push(informer);
    };
    watch(
      new Informer({
        client,
        type: builtinResources.secret,
        namespace: source.secret.namespace,
        fieldSelector: `metadata.name=${source.secret.name}`,
        metadataOnly: true,
        log,
      }),
    );
    const configurations = (
      [
        [webhookConfigurationResources.validating, source.validatingConfiguration],
        [webhookConfigurationResources.mutating, source.mutatingConfiguration],
      ] as const
    ).flatMap(([type, name]) => {
      if (!name) return [];
      const informer = new Informer<WebhookConfiguration>({
        client,
        type,
        fieldSelector: `metadata.name=${name}`,
        log,
      });
      watch(informer);
      return [{ type, name, informer }];
    });
    keep = async () => {
      const { certificates, issued } = await ensureCertificateSecret(client, source.secret, names, {
        keyAlgorithm: options.keyAlgorithm,
      });
      if (issued) log(`webhook: issued certificates into Secret ${source.secret.namespace}/${source.secret.name}`);
      wanted = certificates.serving.certificatePem;
      if (server.certificatePem !== wanted) {
        server.useCertificate(wanted, certificates.serving.privateKeyPem);
        log('webhook: serving the certificate of the Secret');
      }
      for (const { type, name, informer } of configurations) {
        const configuration = informer.get(name);
        if (!configuration) continue;
        const written = await injectCaBundle(client, type, configuration, certificates.caBundlePem);
        if (written > 0) log(`webhook: caBundle written into ${written} webhook(s) of ${type.kind} ${name}`);
      }
    };
  }
  for (const informer of informers) informer.start();
  const resyncMs = options.resyncMs ?? (source.kind === 'directory' ? DIRECTORY_RESYNC_MS : SECRET_RESYNC_MS);
  const workers = runWorkers(
    queue,
    1,
    async () => {
      await Promise.all(informers.map((informer) => informer.waitForSync()));
      await keep();
      return { requeueAfterMs: resyncMs };
    },
    { name: 'webhook-certificates', log },
  );
  resync();

  const readiness: HealthCheck = {
    name: 'webhook',
    check: () => {
      if (!server.certificatePem) return 'no serving certificate loaded yet';
      if (server.certificatePem !== wanted) return 'serving a certificate that is no longer the current one';
      if (needsRenewal(server.certificatePem, 0)) return 'the serving certificate has expired';
      return synced() ? undefined : 'waiting for the TenantControlPlane and DataStore caches';
    },
  };
  return {
    url: server.url,
    readiness,
    async stop() {
      dirWatcher?.close();
      await queue.shutDown();
      await Promise.all(informers.map((informer) => informer.stop()));
      await workers;
      await server.close();
    },
  };
}
