import { existsSync } from 'node:fs';
import type { KubeClient } from '../../controller/kube-client.ts';
import type { KeyspaceOptions } from '../../datastore/keyspace/keyspace.ts';
import { type Command, UsageError } from '../command.ts';
import { layoutOf, stateDirHelp, stateDirOption } from './state-dir.ts';

/**
 * `kamaji backup`, `backup inspect`, `backup schedule` and `kamaji restore` (docs/backup.md). They talk to the
 * admin cluster of `--kubeconfig`, else of the local cluster in `--state-dir` when there is one, else as kubectl
 * would ($KUBECONFIG, in-cluster, ~/.kube/config): so the same command runs on the host and in a CronJob.
 */

const clusterOptions = { ...stateDirOption, kubeconfig: { type: 'string' } } as const;
const clusterHelp = {
  ...stateDirHelp,
  kubeconfig:
    'the admin cluster (default: the local cluster of --state-dir, else $KUBECONFIG, in-cluster, ~/.kube/config)',
};
const namespaceOption = { namespace: { type: 'string', short: 'n', default: 'default' } } as const;
const namespaceHelp = { namespace: 'namespace of the TenantControlPlane (default "default")' };

/** Runs `work` with a client of the admin cluster the options name, closed afterwards. */
async function withAdminCluster<T>(values: Record<string, unknown>, work: (client: KubeClient) => Promise<T>) {
  const { KubeClient } = await import('../../controller/kube-client.ts');
  const { loadClusterAccess } = await import('../../controller/cluster-access.ts');
  const { hostKubeconfigPath } = await import('../../cluster/up.ts');
  const local = hostKubeconfigPath(layoutOf(values));
  const kubeconfig =
    values.kubeconfig !== undefined ? String(values.kubeconfig) : existsSync(local) ? local : undefined;
  const client = new KubeClient(loadClusterAccess(kubeconfig));
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

/** kine for SQL key spaces: $KAMAJI_KINE_BINARY (set in the operator image), else the toolchain's. */
async function keyspaceOptions(): Promise<KeyspaceOptions> {
  if (process.env.KAMAJI_KINE_BINARY) return {};
  const { ensureComponent } = await import('../../toolchain/ensure.ts');
  return { kineBinary: (await ensureComponent('kine')).path };
}

function exactlyOne(positionals: readonly string[], what: string): string {
  const [name] = positionals;
  if (!name || positionals.length > 1) throw new UsageError(`name exactly one ${what}`);
  return name;
}

function nonNegativeInteger(value: unknown, option: string): number | undefined {
  if (value === undefined) return undefined;
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0)
    throw new UsageError(`--${option} must be a whole number, not "${value}"`);
  return number;
}

const inspect: Command = {
  name: 'inspect',
  summary: 'Check a backup file (gzip, checksum, key count) and print its header',
  usage: '<file>',
  async run({ positionals }) {
    const file = exactlyOne(positionals, 'backup file');
    const { readBackupFile } = await import('../../backup/file.ts');
    const { header } = await readBackupFile(file);
    const { spec: _spec, ...summary } = header;
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
    return 0;
  },
};

const schedule: Command = {
  name: 'schedule',
  summary:
    'Print (or --apply) a CronJob that backs the tenant up into a volume, with a ServiceAccount that may read only what it needs',
  usage: '<tenant> [-n namespace] --schedule CRON (--pvc CLAIM | --host-path DIR) [--keep N] [--image REF] [--apply]',
  options: {
    ...clusterOptions,
    ...namespaceOption,
    schedule: { type: 'string' },
    pvc: { type: 'string' },
    'host-path': { type: 'string' },
    keep: { type: 'string', default: '7' },
    image: { type: 'string' },
    apply: { type: 'boolean', default: false },
  },
  optionHelp: {
    ...clusterHelp,
    ...namespaceHelp,
    schedule: 'when, in cron syntax (e.g. "0 3 * * *")',
    pvc: 'a PersistentVolumeClaim in the tenant namespace to write the backups to',
    'host-path': 'or an existing directory, writable by uid 65532, on the node the job runs on (local clusters)',
    keep: 'backups of this tenant kept in the volume (default 7)',
    image: 'the operator image (default: this version of docker.io/kamaji/kamaji-ts)',
    apply: 'apply the objects to the admin cluster instead of printing them',
  },
  async run({ values, positionals }) {
    const tenant = exactlyOne(positionals, 'TenantControlPlane');
    const namespace = String(values.namespace);
    if (!values.schedule) throw new UsageError('--schedule is required (cron syntax, e.g. "0 3 * * *")');
    if ((values.pvc === undefined) === (values['host-path'] === undefined)) {
      throw new UsageError('give exactly one of --pvc CLAIM or --host-path DIR: where the backups are written');
    }
    const keep = nonNegativeInteger(values.keep, 'keep') ?? 7;
    if (keep < 1) throw new UsageError('--keep must be at least 1');
    const { backupScheduleObjects } = await import('../../backup/schedule.ts');
    const { locateTenantStorage } = await import('../../backup/tenant-storage.ts');
    const { operatorImageReference } = await import('../../cluster/operator-image.ts');
    return withAdminCluster(values, async (client) => {
      const { dataStore } = await locateTenantStorage(client, namespace, tenant);
      const objects = backupScheduleObjects({
        tenant: { namespace, name: tenant },
        dataStore,
        schedule: String(values.schedule),
        volume:
          values.pvc === undefined
            ? { hostPath: String(values['host-path']) }
            : { persistentVolumeClaim: String(values.pvc) },
        keep,
        image: values.image === undefined ? operatorImageReference() : String(values.image),
      });
      if (!values.apply) {
        const { stringify } = await import('yaml');
        const documents = objects.map(({ type, object }) =>
          stringify({ apiVersion: type.apiVersion, kind: type.kind, ...object }),
        );
        process.stdout.write(documents.map((document) => `---\n${document}`).join(''));
        return 0;
      }
      const { serverSideApply } = await import('../../controller/apply.ts');
      const { describeObject } = await import('../../tenant/steps/objects.ts');
      for (const object of objects) {
        await serverSideApply(client, object.type, object.object);
        process.stderr.write(`applied ${describeObject(object)}\n`);
      }
      return 0;
    });
  },
};

export const backupCommand: Command = {
  name: 'backup',
  summary: "Back up a tenant's key space (one revision of its DataStore) into a file",
  usage: '<tenant> [-n namespace] -o FILE|DIR/ [--keep N] | backup inspect <file> | backup schedule <tenant> ...',
  options: {
    ...clusterOptions,
    ...namespaceOption,
    output: { type: 'string', short: 'o' },
    keep: { type: 'string' },
  },
  optionHelp: {
    ...clusterHelp,
    ...namespaceHelp,
    output: 'the file to write; a directory (or a path ending in /) gets <namespace>_<tenant>_<time>.kamaji-backup',
    keep: 'with a directory: keep only the newest N backups of this tenant there',
  },
  subcommands: [inspect, schedule],
  async run({ values, positionals }) {
    const tenant = exactlyOne(positionals, 'TenantControlPlane');
    if (!values.output) throw new UsageError('-o FILE (or a directory) is required: where to write the backup');
    const keep = nonNegativeInteger(values.keep, 'keep');
    const namespace = String(values.namespace);
    const { backupTenant } = await import('../../backup/backup.ts');
    const { backupPath, pruneBackups, writeBackupFile } = await import('../../backup/file.ts');
    const output = String(values.output);
    const started = Date.now();
    return withAdminCluster(values, async (client) => {
      const now = new Date();
      const { header, bytes } = await backupTenant(
        client,
        { namespace, name: tenant },
        { keyspace: await keyspaceOptions(), now: () => now },
      );
      const path = await backupPath(output, namespace, tenant, now);
      await writeBackupFile(path, bytes);
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `${path}: ${header.objectCount} keys of ${namespace}/${tenant} at revision ${header.revision} of DataStore ${header.dataStore.name} (${header.dataStore.driver}), ${bytes.length} bytes, ${seconds}s\n`,
      );
      if (keep !== undefined && path !== output) {
        const { dirname } = await import('node:path');
        for (const pruned of await pruneBackups(dirname(path), namespace, tenant, Math.max(1, keep))) {
          process.stderr.write(`deleted the older backup ${pruned}\n`);
        }
      }
      return 0;
    });
  },
};

export const restoreCommand: Command = {
  name: 'restore',
  summary: 'Create a new tenant from a backup file, on any DataStore, and wait until it is Ready',
  usage: '<file> --into <new tenant> [-n namespace] [--datastore NAME] [--port N] [--konnectivity-port N]',
  options: {
    ...clusterOptions,
    ...namespaceOption,
    into: { type: 'string' },
    datastore: { type: 'string' },
    port: { type: 'string' },
    'konnectivity-port': { type: 'string' },
    timeout: { type: 'string', default: '300' },
  },
  optionHelp: {
    ...clusterHelp,
    namespace: 'namespace of the new TenantControlPlane (default "default")',
    into: 'name of the new TenantControlPlane (required)',
    datastore: "the DataStore to restore into (default: the backup's)",
    port: "spec.networkProfile.port of the new tenant (default: the backup's; a node port cannot be shared)",
    'konnectivity-port': "spec.addons.konnectivity.server.port of the new tenant (default: the backup's)",
    timeout: 'seconds to wait for each step (default 300)',
  },
  async run({ values, positionals }) {
    const file = exactlyOne(positionals, 'backup file');
    if (!values.into) throw new UsageError('--into NAME is required: the new TenantControlPlane to create');
    const { readBackupFile } = await import('../../backup/file.ts');
    const { restoreTenant } = await import('../../backup/restore.ts');
    const backup = await readBackupFile(file);
    const timeout = nonNegativeInteger(values.timeout, 'timeout') ?? 300;
    const started = Date.now();
    return withAdminCluster(values, async (client) => {
      const target = {
        namespace: String(values.namespace),
        name: String(values.into),
        ...(values.datastore === undefined ? {} : { dataStore: String(values.datastore) }),
        ...(values.port === undefined ? {} : { port: nonNegativeInteger(values.port, 'port') }),
        ...(values['konnectivity-port'] === undefined
          ? {}
          : { konnectivityPort: nonNegativeInteger(values['konnectivity-port'], 'konnectivity-port') }),
      };
      const result = await restoreTenant(client, backup, target, {
        keyspace: await keyspaceOptions(),
        report: (line) => process.stderr.write(`${line}\n`),
        timeoutMs: timeout * 1000,
      });
      const seconds = ((Date.now() - started) / 1000).toFixed(1);
      process.stdout.write(
        `${target.namespace}/${target.name} restored from ${backup.header.tenant.namespace}/${backup.header.tenant.name} (revision ${backup.header.revision}): ${result.written} keys, Ready in ${seconds}s\n`,
      );
      return 0;
    });
  },
};

export const backupCommands: readonly Command[] = [backupCommand, restoreCommand];
