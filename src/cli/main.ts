import { type Command, dispatch } from './command.ts';
import { backupCommands } from './commands/backup.ts';
import { clusterCommands } from './commands/cluster.ts';
import { crdsCommand } from './commands/crds.ts';
import { datastoreCommand } from './commands/datastore.ts';
import { imageCommand } from './commands/image.ts';
import { installCommand } from './commands/install.ts';
import { managerCommand } from './commands/manager.ts';
import { nodeCommand } from './commands/node.ts';
import { toolchainCommand } from './commands/toolchain.ts';
import { joinCommandCommand, workerCommand } from './commands/worker.ts';

const root: Command = {
  name: 'kamaji',
  summary: 'Kamaji: hosted Kubernetes control planes on a shared, access-controlled datastore',
  usage: '<command>',
  subcommands: [
    ...clusterCommands,
    workerCommand,
    joinCommandCommand,
    nodeCommand,
    datastoreCommand,
    crdsCommand,
    installCommand,
    managerCommand,
    toolchainCommand,
    imageCommand,
    ...backupCommands,
  ],
};

process.exitCode = await dispatch(root, process.argv.slice(2));
