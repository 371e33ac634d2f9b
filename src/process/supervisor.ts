import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync, type WriteStream } from 'node:fs';
import { open } from 'node:fs/promises';

/** What to start: a binary, its arguments, and where its output goes. */
export interface ProcessSpec {
  name: string;
  command: string;
  args: readonly string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface SupervisedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  readonly exited: Promise<number | string>;
  hasExited(): boolean;
}

const STOP_GRACE_MS = 5_000;
const SETPRIV = '/usr/bin/setpriv';
const HAS_SETPRIV = existsSync(SETPRIV);

/**
 * Starts processes in their own process group, writes their output to a log file, and stops every one of them
 * on `stopAll()`, on SIGINT/SIGTERM and on exit of this Node process, so that nothing outlives its owner.
 */
export class Supervisor {
  private readonly running = new Map<number, { child: ChildProcess; proc: SupervisedProcess; log: WriteStream }>();
  private readonly startedPids: number[] = [];
  private readonly cleanups: (() => void)[] = [];
  private readonly unregisterSignals: () => void;

  constructor() {
    this.unregisterSignals = registerForShutdown(this);
  }

  /** Every pid this supervisor ever started, for leak checks. */
  pids(): readonly number[] {
    return this.startedPids;
  }

  start(spec: ProcessSpec): SupervisedProcess {
    const log = createWriteStream(spec.logFile, { flags: 'a' });
    // With setpriv, the kernel kills the child when this process dies, however it dies (even by SIGKILL, when
    // no handler of ours can run): nothing it started outlives it.
    const [command, args] = HAS_SETPRIV
      ? [SETPRIV, ['--pdeathsig', 'SIGKILL', '--', spec.command, ...spec.args]]
      : [spec.command, [...spec.args]];
    const child = spawn(command, args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    if (child.pid === undefined) {
      log.end();
      throw new Error(`${spec.name}: could not start ${spec.command} (is it installed and executable?)`);
    }
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    let ended = false;
    const exited = new Promise<number | string>((resolve) => {
      child.on('exit', (code, signal) => {
        ended = true;
        resolve(code ?? signal ?? 'unknown');
      });
    });
    const pid = child.pid;
    const proc: SupervisedProcess = {
      name: spec.name,
      pid,
      logFile: spec.logFile,
      exited,
      hasExited: () => ended,
    };
    this.running.set(pid, { child, proc, log });
    this.startedPids.push(pid);
    void exited.then(() => {
      this.running.delete(pid);
      log.end();
    });
    return proc;
  }

  /** Stops one process: SIGTERM to its group, then SIGKILL after a grace period. */
  async stop(proc: SupervisedProcess): Promise<void> {
    if (proc.hasExited()) return;
    signalGroup(proc.pid, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(proc.pid, 'SIGKILL'), STOP_GRACE_MS);
    await proc.exited;
    clearTimeout(timer);
  }

  /** Registers synchronous clean-up (e.g. removing a work directory) to run once every process has stopped. */
  onStopped(cleanup: () => void): void {
    this.cleanups.push(cleanup);
  }

  /** Stops every running process, newest first (dependents before what they depend on), then cleans up. */
  async stopAll(): Promise<void> {
    const procs = [...this.running.values()].map((entry) => entry.proc).reverse();
    for (const proc of procs) await this.stop(proc);
    this.runCleanups();
    this.unregisterSignals();
  }

  /** Synchronous last resort used on process exit: kill whatever is still running, then clean up. */
  killAllNow(): void {
    for (const pid of this.running.keys()) signalGroup(pid, 'SIGKILL');
    this.runCleanups();
  }

  private runCleanups(): void {
    for (const cleanup of this.cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // Clean-up is best effort; the next one still runs.
      }
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // The group is already gone.
  }
}

const supervisors = new Set<Supervisor>();
let handlersInstalled = false;

function registerForShutdown(supervisor: Supervisor): () => void {
  supervisors.add(supervisor);
  if (!handlersInstalled) {
    handlersInstalled = true;
    process.on('exit', () => {
      for (const s of supervisors) s.killAllNow();
    });
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void Promise.all([...supervisors].map((s) => s.stopAll())).finally(() =>
          process.exit(128 + signalNumber(signal)),
        );
      });
    }
  }
  return () => supervisors.delete(supervisor);
}

function signalNumber(signal: 'SIGINT' | 'SIGTERM'): number {
  return signal === 'SIGINT' ? 2 : 15;
}

/** True while a process with this pid exists (and is not a zombie). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." where S is the state letter.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'Z';
  } catch {
    return false;
  }
}

/** The last `lines` lines of a log file, for error messages. */
export async function tailFile(path: string, lines = 40): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const buffer = Buffer.alloc(length);
      await handle.read(buffer, 0, length, size - length);
      return buffer.toString('utf8').split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return `(no log at ${path})`;
  }
}

/** For start-up waits: undefined while the process runs; once it has exited, a message with its log's tail. */
export async function exitedWithLog(proc: SupervisedProcess): Promise<string | undefined> {
  if (!proc.hasExited()) return undefined;
  return `${proc.name} exited (${await proc.exited}); the end of ${proc.logFile}:\n${await tailFile(proc.logFile)}`;
}
