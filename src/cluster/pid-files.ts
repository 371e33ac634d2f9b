import { readdirSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from '../process/supervisor.ts';
import { pidFile, type StateLayout } from './state.ts';

const STOP_GRACE_MS = 10_000;
const POLL_MS = 50;

/** The kernel's start time of a process (clock ticks since boot): with the pid, it names one process for good. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after "(comm)": state is field 3, starttime field 22.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Writes `<pid> <start time>` so that another `kamaji` process can find (and stop) exactly this process later. */
export async function recordProcess(layout: StateLayout, name: string, pid: number): Promise<void> {
  const file = pidFile(layout, name);
  await mkdir(dirname(file), { recursive: true });
  // Written aside and renamed into place: `up` writes the owner's pid file and the owner writes it again itself,
  // while `up` polls it; a reader between a plain write's truncate and its write saw no owner, and `up` gave up.
  const written = `${file}.${process.pid}.tmp`;
  await writeFile(written, `${pid} ${processStartTime(pid) ?? ''}\n`);
  await rename(written, file);
}

/** The recorded process while it still runs; a pid reused by another process since does not count. */
export async function recordedPid(layout: StateLayout, name: string): Promise<number | undefined> {
  const [pidText, startTime] = (await readFile(pidFile(layout, name), 'utf8').catch(() => '')).trim().split(' ');
  const pid = Number.parseInt(pidText ?? '', 10);
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined;
  return processStartTime(pid) === startTime ? pid : undefined;
}

/** SIGTERM to the process and its group, SIGKILL after a grace period; resolves once it is gone. */
export async function stopPid(pid: number, graceMs = STOP_GRACE_MS): Promise<void> {
  signal(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid)) {
    if (Date.now() > deadline) signal(pid, 'SIGKILL');
    await sleep(POLL_MS);
  }
}

/** Stops the recorded process if it runs, and forgets it. */
export async function stopRecordedProcess(layout: StateLayout, name: string, graceMs = STOP_GRACE_MS): Promise<void> {
  const pid = await recordedPid(layout, name);
  if (pid !== undefined) await stopPid(pid, graceMs);
  await rm(pidFile(layout, name), { force: true });
}

function signal(pid: number, name: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, name);
    } catch {
      // Not a group leader, or already gone.
    }
  }
}

/** Pids of the processes (other than this one) whose command line contains `fragment`. */
export function processesMentioning(fragment: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(fragment)) pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

/** A process's arguments, as it was started (argv[0] first); undefined when it ended or cannot be read. */
export function processArguments(pid: number): string[] | undefined {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return cmdline.endsWith('\0') ? cmdline.slice(0, -1).split('\0') : cmdline.split('\0');
  } catch {
    return undefined;
  }
}

/**
 * Pids of the processes (other than this one) whose arguments contain `sequence`, whole arguments one after
 * another: what a process was started with identifies it even when its pid file is gone.
 */
export function processesStartedWith(sequence: readonly string[]): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    const args = processArguments(Number(entry));
    if (args && containsSequence(args, sequence)) pids.push(Number(entry));
  }
  return pids;
}

function containsSequence(args: readonly string[], sequence: readonly string[]): boolean {
  if (sequence.length === 0) return false;
  for (let start = 0; start + sequence.length <= args.length; start += 1) {
    if (sequence.every((arg, offset) => args[start + offset] === arg)) return true;
  }
  return false;
}
