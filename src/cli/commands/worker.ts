import { type Command, UsageError } from '../command.ts';
import { layoutOf, requireRoot, stateDirHelp, stateDirOption } from './state-dir.ts';

const namespaceOption = { namespace: { type: 'string', short: 'n', default: 'default' } } as const;
const namespaceHelp = { namespace: 'namespace of the TenantControlPlane (default "default")' };

function exactlyOne(positionals: readonly string[], what: string): string {
  const [name] = positionals;
  if (!name || positionals.length > 1) throw new UsageError(`name exactly one ${what}`);
  return name;
}

const add: Command = {
  name: 'add',
  summary: 'Add a local worker (a node box with containerd and a kubelet) that joins a tenant with kubeadm join',
  usage: '<tenant> [-n namespace] [--name NAME] [--state-dir DIR]',
  options: { ...stateDirOption, ...namespaceOption, name: { type: 'string' } },
  optionHelp: { ...stateDirHelp, ...namespaceHelp, name: 'the worker and Node name (default <tenant>-worker-<n>)' },
  async run({ values, positionals }) {
    requireRoot('kamaji worker add');
    const tenant = exactlyOne(positionals, 'TenantControlPlane');
    const { validateWorkerName } = await import('../../cluster/worker.ts');
    const name = values.name === undefined ? undefined : String(values.name);
    const invalid = name === undefined ? undefined : validateWorkerName(name);
    if (invalid) throw new UsageError(invalid);
    const { addWorker } = await import('../../cluster/worker-owner.ts');
    const namespace = String(values.namespace);
    const worker = await addWorker(layoutOf(values), { namespace, tenant, name }, (text) => process.stderr.write(text));
    process.stdout.write(`worker ${worker.name} joined ${namespace}/${tenant} (pod range ${worker.podCidr})\n`);
    return 0;
  },
};

const run: Command = {
  name: 'run',
  summary: "Bring a claimed worker up and supervise its processes (the worker's owner process; used by add)",
  usage: '<worker> [--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values, positionals }) {
    requireRoot('kamaji worker run');
    const name = exactlyOne(positionals, 'worker');
    const { runWorkerOwner } = await import('../../cluster/worker-owner.ts');
    try {
      await runWorkerOwner(layoutOf(values), name, (line) => process.stderr.write(`${line}\n`));
    } catch (error) {
      // Exiting stops the processes this owner started; the worker's directory stays for `worker remove`.
      process.stderr.write(`kamaji worker run: ${(error as Error).message}\n`);
      process.exit(1);
    }
    await new Promise(() => undefined);
    return 0;
  },
};

const list: Command = {
  name: 'list',
  summary: 'List the local workers: tenant, address, pod range, owner process',
  usage: '[--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values }) {
    const { listWorkers, WORKER_OWNER_PROCESS } = await import('../../cluster/worker.ts');
    const { workerLayout } = await import('../../cluster/state.ts');
    const { recordedPid } = await import('../../cluster/pid-files.ts');
    const admin = layoutOf(values);
    const rows = [['NAME', 'TENANT', 'ADDRESS', 'POD RANGE', 'OWNER']];
    for (const worker of await listWorkers(admin)) {
      const layout = workerLayout(admin, worker);
      const owner = await recordedPid(layout, WORKER_OWNER_PROCESS);
      rows.push([
        worker.name,
        `${worker.namespace}/${worker.tenant}`,
        layout.network.nodeAddress,
        worker.podCidr ?? '-',
        owner === undefined ? 'stopped' : `running (pid ${owner})`,
      ]);
    }
    const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
    for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}\n`);
    return 0;
  },
};

const remove: Command = {
  name: 'remove',
  summary: 'Drain a worker, delete its Node from the tenant, stop it and remove its box',
  usage: '<worker> [--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values, positionals }) {
    requireRoot('kamaji worker remove');
    const name = exactlyOne(positionals, 'worker');
    const admin = layoutOf(values);
    const { readWorker, removeWorker } = await import('../../cluster/worker.ts');
    const worker = await readWorker(admin, name);
    if (!worker) throw new UsageError(`no worker named ${name} in ${admin.root}: "kamaji worker list" shows them`);
    const { tenantKubeconfig } = await import('../../cluster/status.ts');
    const { ensureComponents } = await import('../../toolchain/ensure.ts');
    const kubectl = (await ensureComponents(['kubectl'])).get('kubectl')?.path ?? 'kubectl';
    const report = (line: string) => process.stderr.write(`${line}\n`);
    const kubeconfig = await tenantKubeconfig(admin, worker.namespace, worker.tenant).catch((error: Error) => {
      report(`not draining: ${error.message}`);
      return undefined;
    });
    await removeWorker(admin, worker, { kubectl, tenantKubeconfig: kubeconfig, report });
    process.stderr.write(`worker ${name} removed\n`);
    return 0;
  },
};

export const workerCommand: Command = {
  name: 'worker',
  summary: 'Local workers of tenant clusters: add, list, remove',
  usage: '<command>',
  subcommands: [add, list, remove, run],
};

export const joinCommandCommand: Command = {
  name: 'join-command',
  summary: 'Print a kubeadm join command (a new bootstrap token) for a machine to join a tenant',
  usage: '<tenant> [-n namespace] [--ttl DURATION] [--state-dir DIR]',
  options: { ...stateDirOption, ...namespaceOption, ttl: { type: 'string', default: '1h' } },
  optionHelp: { ...stateDirHelp, ...namespaceHelp, ttl: 'how long the token is valid (default 1h)' },
  async run({ values, positionals }) {
    const tenant = exactlyOne(positionals, 'TenantControlPlane');
    const { tenantKubeconfig } = await import('../../cluster/status.ts');
    const { createJoinCommand, formatJoinCommand } = await import('../../cluster/join.ts');
    const { ensureComponents } = await import('../../toolchain/ensure.ts');
    const kubeadm = (await ensureComponents(['kubeadm'])).get('kubeadm')?.path ?? 'kubeadm';
    const kubeconfig = await tenantKubeconfig(layoutOf(values), String(values.namespace), tenant);
    process.stdout.write(`${formatJoinCommand(await createJoinCommand(kubeadm, kubeconfig, String(values.ttl)))}\n`);
    return 0;
  },
};
