import { resolve } from 'node:path';
import { DEFAULT_STATE_DIR, stateLayout } from '../../cluster/state.ts';
import { UsageError } from '../command.ts';

/** `--state-dir`, which every command about a local instance takes. */
export const stateDirOption = { 'state-dir': { type: 'string', default: DEFAULT_STATE_DIR } } as const;
export const stateDirHelp = {
  'state-dir': `where this instance keeps everything (default ${DEFAULT_STATE_DIR}); two dirs never collide`,
};

export function layoutOf(values: Record<string, unknown>) {
  return stateLayout(resolve(String(values['state-dir'])));
}

export function requireRoot(command: string): void {
  if (process.getuid?.() !== 0)
    throw new UsageError(`${command} needs root (network namespaces, mounts, containerd): run it with sudo`);
}
