import { LeadershipLostError } from '../../controller/leader-election.ts';
import { startManager } from '../../manager/manager.ts';
import type { KeyAlgorithm } from '../../pki/certificates.ts';
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
    'leader-elect': { type: 'boolean', default: false },
    'leader-election-namespace': { type: 'string', default: 'kamaji-system' },
    'key-algorithm': { type: 'string', default: 'ECDSA-P256' },
  },
  optionHelp: {
    kubeconfig: 'admin cluster kubeconfig (default: $KUBECONFIG, ~/.kube/config, or in-cluster)',
    datastore: 'DataStore for TenantControlPlanes that name none',
    'max-concurrent-reconciles': 'TenantControlPlanes reconciled at once (default 10)',
    'probe-address': 'host:port serving /metrics, /healthz and /readyz; empty for none (default 127.0.0.1:8081)',
    'leader-elect':
      'elect a leader on a Lease, for several replicas; a leader that loses the Lease exits with status 1',
    'leader-election-namespace': 'namespace of the kamaji-manager Lease (default kamaji-system)',
    'key-algorithm': 'ECDSA-P256 (default, fast) or RSA-2048 (kubeadm default) for new keys',
  },
  async run({ values }) {
    const concurrency = Number(values['max-concurrent-reconciles']);
    if (!Number.isInteger(concurrency) || concurrency < 1) {
      throw new UsageError(
        `--max-concurrent-reconciles must be a positive integer, not "${values['max-concurrent-reconciles']}"`,
      );
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
      leaderElection: values['leader-elect'] === true,
      leaderElectionNamespace: values['leader-election-namespace'] as string,
      keyAlgorithm,
    });
    if (manager.probeServer) process.stderr.write(`kamaji manager: probes and metrics on ${manager.probeServer.url}\n`);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        process.stderr.write(`kamaji manager: ${signal}, finishing in-flight work\n`);
        void manager.stop();
      });
    }
    try {
      await manager.done;
    } catch (error) {
      if (!(error instanceof LeadershipLostError)) throw error;
      // As controller-runtime does: no graceful shutdown, the process ends now; a fresh one campaigns again.
      process.stderr.write(
        `kamaji manager: ${error.message}; exiting now (status 1) so that only the new leader works\n`,
      );
      process.exit(1);
    }
    return 0;
  },
};
