import { join } from 'node:path';
import { type CommandResult, runCommand } from '../../src/cluster/command.ts';

const BIN = join(import.meta.dirname, '..', '..', 'bin', 'kamaji.js');

/** The real CLI, as a user runs it; a failure is returned (not thrown) so that the test can show what it printed. */
export function kamaji(...args: string[]): Promise<CommandResult> {
  return runCommand(process.execPath, [BIN, ...args], { allowFailure: true });
}

export function printed(result: CommandResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
