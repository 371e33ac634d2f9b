import { type Command, UsageError } from '../command.ts';
import { layoutOf, requireRoot, stateDirHelp, stateDirOption } from './state-dir.ts';

function exactlyOne(positionals: readonly string[]): string {
  const [name] = positionals;
  if (!name || positionals.length > 1)
    throw new UsageError('name exactly one admin node ("kamaji node list" shows them)');
  return name;
}

const add: Command = {
  name: 'add',
  summary: 'Join another node (a node box with containerd, a kubelet and kube-proxy) to the local admin cluster',
  usage: '[--name NAME] [--state-dir DIR]',
  options: { ...stateDirOption, name: { type: 'string' } },
  optionHelp: { ...stateDirHelp, name: 'the node and Node name (default <first admin node>-<n>, from 2)' },
  async run({ values, positionals }) {
    if (positionals.length > 0) throw new UsageError(`unexpected ${positionals.join(' ')}: the name goes in --name`);
    requireRoot('kamaji node add');
    const { validateWorkerName } = await import('../../cluster/worker.ts');
    const name = values.name === undefined ? undefined : String(values.name);
    const invalid = name === undefined ? undefined : validateWorkerName(name, 'admin node');
    if (invalid) throw new UsageError(invalid);
    const { addAdminNode } = await import('../../cluster/admin-nodes-owner.ts');
    const started = Date.now();
    const node = await addAdminNode(layoutOf(values), { name }, (text) => process.stderr.write(text));
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(`admin node ${node.name} Ready in ${seconds}s (pod range ${node.podCidr})\n`);
    return 0;
  },
};

const run: Command = {
  name: 'run',
  summary: "Bring a claimed admin node up and supervise its processes (the node's owner process; used by add)",
  usage: '<node> [--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values, positionals }) {
    requireRoot('kamaji node run');
    const name = exactlyOne(positionals);
    const { runAdminNodeOwner } = await import('../../cluster/admin-nodes-owner.ts');
    try {
      await runAdminNodeOwner(layoutOf(values), name, (line) => process.stderr.write(`${line}\n`));
    } catch (error) {
      // Exiting stops the processes this owner started; the node's directory stays for `node remove`.
      process.stderr.write(`kamaji node run: ${(error as Error).message}\n`);
      process.exit(1);
    }
    await new Promise(() => undefined);
    return 0;
  },
};

const list: Command = {
  name: 'list',
  summary: 'List the admin nodes added to the local admin cluster: address, pod range, owner process',
  usage: '[--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values }) {
    const { adminNodeRows } = await import('../../cluster/admin-nodes-status.ts');
    const rows = [['NAME', 'ADDRESS', 'POD RANGE', 'OWNER'], ...(await adminNodeRows(layoutOf(values)))];
    const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
    for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ')}\n`);
    return 0;
  },
};

const remove: Command = {
  name: 'remove',
  summary: 'Drain an admin node, delete its Node, stop it and remove its box',
  usage: '<node> [--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values, positionals }) {
    requireRoot('kamaji node remove');
    const name = exactlyOne(positionals);
    const admin = layoutOf(values);
    if (name === admin.names.nodeName) {
      throw new UsageError(
        `${name} is the first admin node (the control plane): it cannot be removed; "kamaji down --state-dir ${admin.root}" stops the cluster`,
      );
    }
    const { readAdminNode, removeAdminNode } = await import('../../cluster/admin-nodes.ts');
    const node = await readAdminNode(admin, name);
    if (!node) throw new UsageError(`no admin node named ${name} in ${admin.root}: "kamaji node list" shows them`);
    const { ensureComponents } = await import('../../toolchain/ensure.ts');
    const kubectl = (await ensureComponents(['kubectl'])).get('kubectl')?.path ?? 'kubectl';
    await removeAdminNode(admin, node, { kubectl, report: (line) => process.stderr.write(`${line}\n`) });
    process.stderr.write(`admin node ${name} removed\n`);
    return 0;
  },
};

export const nodeCommand: Command = {
  name: 'node',
  summary: 'Nodes of the local admin cluster besides the first: add, list, remove',
  usage: '<command>',
  subcommands: [add, list, remove, run],
};
