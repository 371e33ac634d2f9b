import { type Command, dispatch } from './command.ts';
import { crdsCommand } from './commands/crds.ts';
import { managerCommand } from './commands/manager.ts';
import { toolchainCommand } from './commands/toolchain.ts';

const root: Command = {
  name: 'kamaji',
  summary: 'Kamaji: hosted Kubernetes control planes on a shared, access-controlled datastore',
  usage: '<command>',
  subcommands: [crdsCommand, managerCommand, toolchainCommand],
};

process.exitCode = await dispatch(root, process.argv.slice(2));
