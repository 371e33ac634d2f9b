import { LOCAL_DRIVERS } from '../../cluster/datastores/local-datastore.ts';
import { KAMAJI_BIN } from '../../cluster/kamaji-bin.ts';
import { logFile } from '../../cluster/state.ts';
import { followLog, startDetached } from '../../process/detached.ts';
import { type Command, UsageError } from '../command.ts';
import { localDriver } from './datastore.ts';
import { layoutOf, requireRoot, stateDirHelp, stateDirOption } from './state-dir.ts';

const up: Command = {
  name: 'up',
  summary: 'Bring up a local admin cluster (kubeadm), Kamaji in it, and a demo tenant; a second run is a no-op',
  usage: '[--state-dir DIR] [--workers N] [--datastore etcd|postgresql|mysql|nats]',
  options: {
    ...stateDirOption,
    workers: { type: 'string', default: '1' },
    datastore: { type: 'string', default: 'etcd' },
    foreground: { type: 'boolean', default: false },
  },
  optionHelp: {
    ...stateDirHelp,
    workers: 'local workers the demo tenant gets (default 1; 0 for none)',
    datastore: `the server behind the DataStore "default" (${LOCAL_DRIVERS.join(', ')}; default etcd)`,
    foreground: 'run as the supervising owner process instead of starting one',
  },
  async run({ values }) {
    requireRoot('kamaji up');
    const layout = layoutOf(values);
    const workers = Number(values.workers);
    if (!Number.isInteger(workers) || workers < 0 || workers > 16) {
      throw new UsageError(`--workers ${String(values.workers)}: give a whole number from 0 to 16`);
    }
    const options = { workers, datastore: localDriver(values.datastore, '--datastore') };
    const { bringUp, completedUp, OWNER_PROCESS, ownerArguments, ownerProcesses } = await import('../../cluster/up.ts');
    const { recordedPid, recordProcess } = await import('../../cluster/pid-files.ts');
    if (values.foreground) {
      let summary: Awaited<ReturnType<typeof bringUp>>;
      try {
        summary = await bringUp(layout.root, (line) => process.stderr.write(`${line}\n`), options);
      } catch (error) {
        // The processes this owner supervises would keep it (and the `up` that follows its log) running for good.
        // Exiting stops them; the state dir stays, so `kamaji up` resumes and `kamaji down` cleans.
        process.stderr.write(`kamaji up: ${(error as Error).message}\n`);
        process.exit(1);
      }
      process.stderr.write(`kamaji up: done. Use the tenant with:\n  ${summary.tenantCommand}\n`);
      // Stay: this process owns (supervises) the cluster's processes until `kamaji down`.
      await new Promise(() => undefined);
      return 0;
    }
    const already = await completedUp(layout);
    if (already) {
      process.stdout.write(
        `kamaji is already up in ${layout.root}. Use the tenant with:\n  ${already.tenantCommand}\n`,
      );
      return 0;
    }
    if ((await recordedPid(layout, OWNER_PROCESS)) === undefined) {
      const unrecorded = await ownerProcesses(layout);
      if (unrecorded.length > 0) {
        process.stderr.write(
          `kamaji up: an earlier owner of ${layout.root} still runs (pid ${unrecorded.join(', ')}) but its pid file ` +
            `is gone (was the state dir deleted?). Stop it first: kamaji down --state-dir=${layout.root}\n`,
        );
        return 1;
      }
      const owner = startDetached(
        process.execPath,
        [KAMAJI_BIN, ...ownerArguments(layout, options)],
        logFile(layout, 'up'),
      );
      await recordProcess(layout, OWNER_PROCESS, owner);
    }
    let summary: Awaited<ReturnType<typeof completedUp>>;
    await followLog(logFile(layout, 'up'), async () => {
      summary = await completedUp(layout);
      return summary !== undefined || (await recordedPid(layout, OWNER_PROCESS)) === undefined;
    });
    if (!summary) {
      process.stderr.write(
        `kamaji up failed (see above). Fix and run "kamaji up" again to resume, or "kamaji down" to clean.\n`,
      );
      return 1;
    }
    process.stdout.write(`Use the tenant with:\n  ${summary.tenantCommand}\n`);
    return 0;
  },
};

const down: Command = {
  name: 'down',
  summary: 'Stop everything up started and remove its mounts, network namespace, links and cgroups',
  usage: '[--state-dir DIR] [--purge]',
  options: { ...stateDirOption, purge: { type: 'boolean', default: false } },
  optionHelp: { ...stateDirHelp, purge: 'also delete the state dir (the cluster and its data)' },
  async run({ values }) {
    requireRoot('kamaji down');
    const { bringDown } = await import('../../cluster/up.ts');
    await bringDown(layoutOf(values), { purge: values.purge === true });
    process.stderr.write('kamaji down: done\n');
    return 0;
  },
};

const status: Command = {
  name: 'status',
  summary: 'Show the admin cluster components and each tenant with its status',
  usage: '[--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values }) {
    const { clusterStatus } = await import('../../cluster/status.ts');
    const { text, up } = await clusterStatus(layoutOf(values));
    process.stdout.write(text);
    return up ? 0 : 1;
  },
};

const kubeconfig: Command = {
  name: 'kubeconfig',
  summary: "Print a tenant's admin kubeconfig, usable from this host",
  usage: '<tenant> [-n namespace] [--state-dir DIR]',
  options: { ...stateDirOption, namespace: { type: 'string', short: 'n', default: 'default' } },
  optionHelp: { ...stateDirHelp, namespace: 'namespace of the TenantControlPlane (default "default")' },
  async run({ values, positionals }) {
    const [tenant] = positionals;
    if (!tenant || positionals.length > 1) throw new UsageError('name exactly one TenantControlPlane');
    const { tenantKubeconfig } = await import('../../cluster/status.ts');
    process.stdout.write(await tenantKubeconfig(layoutOf(values), String(values.namespace), tenant));
    return 0;
  },
};

export const clusterCommands: readonly Command[] = [up, down, status, kubeconfig];
