import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Starts a process that outlives this one (its own session, output to a log file): an owner that supervises a
 * cluster's or a worker's processes until it is told to stop.
 */
export function startDetached(command: string, args: readonly string[], logFile: string): number {
  mkdirSync(dirname(logFile), { recursive: true });
  const log = openSync(logFile, 'w');
  const child = spawn(command, [...args], { detached: true, stdio: ['ignore', log, log] });
  closeSync(log);
  child.unref();
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  return child.pid;
}

/** Copies a log file to `write` as it grows, until `done` says stop. */
export async function followLog(
  file: string,
  done: () => Promise<boolean>,
  write: (text: string) => void = (text) => process.stderr.write(text),
): Promise<void> {
  let printed = 0;
  for (;;) {
    // Asked before reading: what a process wrote just before it finished (its error) is still printed.
    const finished = await done();
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.length > printed) {
      write(text.slice(printed));
      printed = text.length;
    }
    if (finished) return;
    await sleep(200);
  }
}
