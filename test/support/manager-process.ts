import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type SupervisedProcess, type Supervisor, tailFile } from '../../src/process/supervisor.ts';

const KAMAJI = fileURLToPath(new URL('../../bin/kamaji.js', import.meta.url));

export interface ManagerProcessOptions {
  /** Names the process, its kubeconfig and its log file in `dir`. */
  name: string;
  dir: string;
  /** The admin cluster the manager talks to (the harness, or a proxy in front of it). */
  kubeconfigYaml: string;
  leaderElect?: boolean;
  /** More `kamaji manager` options, after the usual ones. */
  extraArgs?: readonly string[];
}

/**
 * `kamaji manager` as a child process (`node bin/kamaji.js manager`), as it runs in production: in its own
 * process group, killed with its supervisor, its output in `<dir>/<name>.log`.
 */
export async function startManagerProcess(
  supervisor: Supervisor,
  options: ManagerProcessOptions,
): Promise<SupervisedProcess> {
  const kubeconfig = join(options.dir, `${options.name}.kubeconfig`);
  await writeFile(kubeconfig, options.kubeconfigYaml, { mode: 0o600 });
  return supervisor.start({
    name: options.name,
    command: process.execPath,
    args: [
      KAMAJI,
      'manager',
      '--kubeconfig',
      kubeconfig,
      '--datastore',
      'default',
      '--max-concurrent-reconciles',
      '4',
      '--probe-address',
      '127.0.0.1:0',
      ...(options.leaderElect ? ['--leader-elect'] : []),
      ...(options.extraArgs ?? []),
    ],
    logFile: join(options.dir, `${options.name}.log`),
  });
}

/** SIGKILL: no handler of the process runs, the kernel ends it where it stands. */
export function killNow(proc: SupervisedProcess): void {
  process.kill(proc.pid, 'SIGKILL');
}

/** The end of a manager's log, for assertion messages. */
export function logOf(proc: SupervisedProcess, lines = 30): Promise<string> {
  return tailFile(proc.logFile, lines);
}
