import { LeadershipLostError } from '../../controller/leader-election.ts';
import { LOG_FORMATS, type LogFormat, stderrLog } from '../../controller/log.ts';
import { startManager } from '../../manager/manager.ts';
import type { KeyAlgorithm } from '../../pki/certificates.ts';
import { parseNamespacedName, type WebhookServing } from '../../webhook/webhook.ts';
import { type Command, UsageError } from '../command.ts';

const KEY_ALGORITHMS: readonly KeyAlgorithm[] = ['ECDSA-P256', 'RSA-2048'];

export const managerCommand: Command = {
  name: 'manager',
  summary: 'Run the operator: reconcile TenantControlPlanes and DataStores in the admin cluster',
  usage: '[options]',
  options: {
    kubeconfig: { type: 'string' },
    datastore: { type: 'string' },
    'max-concurrent-reconciles': { type: 'string', default: '10' },
    'probe-address': { type: 'string', default: '127.0.0.1:8081' },
    'metrics-address': { type: 'string', default: '' },
    'log-format': { type: 'string', default: 'text' },
    'leader-elect': { type: 'boolean', default: false },
    'leader-election-namespace': { type: 'string', default: 'kamaji-system' },
    'key-algorithm': { type: 'string', default: 'ECDSA-P256' },
    'webhook-address': { type: 'string', default: '' },
    'webhook-service': { type: 'string', default: 'kamaji-system/kamaji-webhook-service' },
    'webhook-secret': { type: 'string', default: 'kamaji-system/kamaji-webhook-certificate' },
    'webhook-extra-sans': { type: 'string', default: '' },
    'webhook-cert-dir': { type: 'string', default: '' },
    'validating-webhook-configuration': { type: 'string', default: 'kamaji-validating-webhook-configuration' },
    'mutating-webhook-configuration': { type: 'string', default: 'kamaji-mutating-webhook-configuration' },
  },
  optionHelp: {
    kubeconfig: 'admin cluster kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)',
    datastore: 'DataStore for TenantControlPlanes that name none',
    'max-concurrent-reconciles': 'TenantControlPlanes reconciled at once (default 10)',
    'probe-address':
      'host:port serving /healthz and /readyz, and /metrics unless --metrics-address is given; empty for none (default 127.0.0.1:8081)',
    'metrics-address': 'host:port serving /metrics on a port of its own, e.g. :8080 (default: on the probe address)',
    'log-format': 'text (default) or json: one JSON object per line with ts, level, msg and the object as fields',
    'leader-elect':
      'elect a leader on a Lease, for several replicas; a leader that loses the Lease exits with status 1',
    'leader-election-namespace': 'namespace of the kamaji-manager Lease (default kamaji-system)',
    'key-algorithm': 'ECDSA-P256 (default, fast) or RSA-2048 (kubeadm default) for new keys',
    'webhook-address': 'host:port serving the admission webhooks over HTTPS, e.g. :9443 (default: none)',
    'webhook-service': 'namespace/name of the webhook Service, named in the serving certificate',
    'webhook-secret':
      'namespace/name of the Secret holding the webhook CA and serving certificate (created if missing)',
    'webhook-extra-sans': 'comma-separated extra DNS names or IPs for the serving certificate, e.g. 127.0.0.1',
    'webhook-cert-dir':
      'read tls.crt and tls.key from this directory (e.g. cert-manager), reloaded on change; caBundle is left alone',
    'validating-webhook-configuration': 'ValidatingWebhookConfiguration whose caBundle the operator keeps current',
    'mutating-webhook-configuration': 'MutatingWebhookConfiguration whose caBundle the operator keeps current',
  },
  async run({ values }) {
    const concurrency = Number(values['max-concurrent-reconciles']);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new UsageError(
        `--max-concurrent-reconciles must be a positive integer, not "${values['max-concurrent-reconciles']}"`,
      );
    }
    const logFormat = values['log-format'] as LogFormat;
    if (!LOG_FORMATS.includes(logFormat)) {
      throw new UsageError(`--log-format must be one of ${LOG_FORMATS.join(', ')}, not "${logFormat}"`);
    }
    const log = stderrLog(logFormat);
    if (logFormat === 'json') {
      // Node prints its warnings (e.g. grpc-js's deprecated TLS ServerName for IPs) as plain text: route them into
      // the structured log instead, so that every line a log pipeline reads is JSON.
      process.removeAllListeners('warning');
      process.on('warning', (warning: Error & { code?: string }) => log(warning.message, { warning: warning.code }));
    }
    const keyAlgorithm = values['key-algorithm'] as KeyAlgorithm;
    if (!KEY_ALGORITHMS.includes(keyAlgorithm)) {
      throw new UsageError(`--key-algorithm must be one of ${KEY_ALGORITHMS.join(', ')}, not "${keyAlgorithm}"`);
    }
    const manager = await startManager({
      kubeconfig: values.kubeconfig as string | undefined,
      defaultDataStore: values.datastore as string | undefined,
      maxConcurrentReconciles: concurrency,
      probeAddress: values['probe-address'] as string,
      metricsAddress: (values['metrics-address'] as string) || undefined,
      log,
      leaderElection: values['leader-elect'] === true,
      leaderElectionNamespace: values['leader-election-namespace'] as string,
      keyAlgorithm,
      webhooks: webhookServing(values),
    });
    if (manager.probeServer) log(`kamaji manager: probes on ${manager.probeServer.url}`);
    if (manager.metricsServer) log(`kamaji manager: metrics on ${manager.metricsServer.url}`);
    if (manager.webhooks) log(`kamaji manager: webhooks on ${manager.webhooks.url}`);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        log(`kamaji manager: ${signal}, finishing in-flight work`);
        void manager.stop();
      });
    }
    try {
      await manager.done;
    } catch (error) {
      if (!(error instanceof LeadershipLostError)) throw error;
      // As controller-runtime does: no graceful shutdown, the process ends now; a fresh one campaigns again.
      log(`kamaji manager: ${error.message}; exiting now (status 1) so that only the new leader works`, {
        level: 'error',
      });
      process.exit(1);
    }
    return 0;
  },
};

function webhookServing(values: Record<string, unknown>): WebhookServing | undefined {
  const address = values['webhook-address'] as string;
  if (!address) return undefined;
  const certDir = values['webhook-cert-dir'] as string;
  if (certDir) return { address, certificates: { kind: 'directory', dir: certDir } };
  try {
    return {
      address,
      certificates: {
        kind: 'secret',
        service: parseNamespacedName(values['webhook-service'] as string, '--webhook-service'),
        secret: parseNamespacedName(values['webhook-secret'] as string, '--webhook-secret'),
        extraNames: (values['webhook-extra-sans'] as string).split(',').filter(Boolean),
        validatingConfiguration: values['validating-webhook-configuration'] as string,
        mutatingConfiguration: values['mutating-webhook-configuration'] as string,
      },
    };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}
