import { startDetached } from '../../process/detached.ts';
import { isAlive, type ProcessSpec, type SupervisedProcess } from '../../process/supervisor.ts';
import { boxCommand, type NodeBox } from '../node-box.ts';
import { recordProcess } from '../pid-files.ts';
import { logFile } from '../state.ts';

const EXIT_POLL_MS = 250;

/** The pid file (and log) name of a datastore's server process. */
export function datastoreProcess(name: string): string {
  return `datastore-${name}`;
}

/**
 * Starts a datastore's server in the box, detached (its own session: `kamaji datastore add` exits, the server stays),
 * recorded in a pid file for `down` and `up`. Nothing restarts it if it dies; `up` starts it again.
 */
export async function launchInBox(
  box: NodeBox,
  name: string,
  spec: Omit<ProcessSpec, 'logFile'>,
): Promise<SupervisedProcess> {
  const boxed = boxCommand(box, spec.command, spec.args);
  const log = logFile(box.layout, datastoreProcess(name));
  const pid = startDetached(boxed.command, boxed.args, log);
  await recordProcess(box.layout, datastoreProcess(name), pid);
  return watched(spec.name, pid, log);
}

/** A process this one did not keep a handle on, watched through its pid (for start-up waits). */
function watched(name: string, pid: number, log: string): SupervisedProcess {
  const exited = new Promise<number | string>((resolve) => {
    const timer = setInterval(() => {
      if (isAlive(pid)) return;
      clearInterval(timer);
      resolve('exited');
    }, EXIT_POLL_MS);
    timer.unref();
  });
  return { name, pid, logFile: log, exited, hasExited: () => !isAlive(pid) };
}
