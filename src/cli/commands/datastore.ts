import { LOCAL_DRIVERS, type LocalDriver } from '../../cluster/datastores/local-datastore.ts';
import type { KubeClient } from '../../controller/kube-client.ts';
import { type Command, UsageError } from '../command.ts';
import { layoutOf, requireRoot, stateDirHelp, stateDirOption } from './state-dir.ts';

/** A driver name as users type it (`etcd`, `postgresql`, `mysql`, `nats`), or a usage error naming `what`. */
export function localDriver(value: unknown, what: string): LocalDriver {
  const driver = LOCAL_DRIVERS.find((candidate) => candidate === value);
  if (!driver) throw new UsageError(`${what} ${String(value)}: choose one of ${LOCAL_DRIVERS.join(', ')}`);
  return driver;
}

function exactlyOne(positionals: readonly string[], what: string): string {
  const [value] = positionals;
  if (!value || positionals.length > 1) throw new UsageError(`name exactly one ${what}`);
  return value;
}

async function withAdminClient<T>(
  values: Record<string, unknown>,
  work: (client: KubeClient) => Promise<T>,
): Promise<T> {
  const { adminClient } = await import('../../cluster/status.ts');
  const client = adminClient(layoutOf(values));
  try {
    return await work(client);
  } finally {
    client.close();
  }
}

const add: Command = {
  name: 'add',
  summary: 'Start another datastore server in the local admin node (TLS and authentication on) and apply its DataStore',
  usage: '<etcd|postgresql|mysql|nats> [--name NAME] [--state-dir DIR]',
  options: { ...stateDirOption, name: { type: 'string' } },
  optionHelp: { ...stateDirHelp, name: 'the DataStore name (default <driver>-<n>, the lowest n free from 1)' },
  async run({ values, positionals }) {
    requireRoot('kamaji datastore add');
    const driver = localDriver(exactlyOne(positionals, 'driver (etcd, postgresql, mysql or nats)'), 'driver');
    const layout = layoutOf(values);
    const { addDatastore, defaultDatastoreName, listDatastores } = await import('../../cluster/datastores/index.ts');
    const name =
      values.name === undefined ? defaultDatastoreName(await listDatastores(layout), driver) : String(values.name);
    const { ensurePrerequisites } = await import('../../cluster/prerequisites.ts');
    await ensurePrerequisites((line) => process.stderr.write(`${line}\n`));
    const started = Date.now();
    const { record, objects } = await withAdminClient(values, (client) =>
      addDatastore(layout, client, { name, driver }),
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    process.stdout.write(
      `DataStore ${record.name} (${objects.dataStore.spec.driver}) at ${objects.dataStore.spec.endpoints.join(', ')} ` +
        `ready in ${seconds}s; use it with spec.dataStore: ${record.name}\n`,
    );
    return 0;
  },
};

const list: Command = {
  name: 'list',
  summary: 'List the local datastores: driver, endpoint, server process, the tenants each holds',
  usage: '[--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values }) {
    const { datastoreRows } = await import('../../cluster/datastores/status.ts');
    const rows = [['NAME', 'DRIVER', 'ENDPOINT', 'SERVER', 'USED BY'], ...(await datastoreRows(layoutOf(values)))];
    const widths = rows[0]?.map((_, column) => Math.max(...rows.map((row) => row[column]?.length ?? 0))) ?? [];
    for (const row of rows) {
      process.stdout.write(
        `${row
          .map((cell, i) => cell.padEnd(widths[i] ?? 0))
          .join('  ')
          .trimEnd()}\n`,
      );
    }
    return 0;
  },
};

const remove: Command = {
  name: 'remove',
  summary: 'Delete a local DataStore no tenant uses, stop its server and remove its data',
  usage: '<name> [--state-dir DIR]',
  options: stateDirOption,
  optionHelp: stateDirHelp,
  async run({ values, positionals }) {
    requireRoot('kamaji datastore remove');
    const name = exactlyOne(positionals, 'datastore ("kamaji datastore list" shows them)');
    const { removeDatastore } = await import('../../cluster/datastores/index.ts');
    await withAdminClient(values, (client) => removeDatastore(layoutOf(values), client, name));
    process.stderr.write(`datastore ${name} removed\n`);
    return 0;
  },
};

export const datastoreCommand: Command = {
  name: 'datastore',
  summary: 'Datastore servers of the local admin cluster besides the default one: add, list, remove',
  usage: '<command>',
  subcommands: [add, list, remove],
};
