import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, chmod, mkdir, open, readFile, rename, rm, unlink } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { isAlive } from '../process/supervisor.ts';

/** The toolchain cache: `$KAMAJI_CACHE`, by default `~/.cache/kamaji`. */
export function cacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env.KAMAJI_CACHE ?? join(env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'kamaji');
}

export function binaryPath(root: string, name: string, version: string): string {
  return join(root, 'bin', name, version, name);
}

export async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A fresh directory inside the cache, on the same file system as the final path so that rename is atomic. */
export async function scratchDirectory(root: string): Promise<string> {
  const dir = join(root, 'tmp', `${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Moves a finished binary into place in one rename: readers see either nothing or the whole file. */
export async function installAtomically(source: string, destination: string): Promise<void> {
  await chmod(source, 0o755);
  await mkdir(dirname(destination), { recursive: true });
  await rename(source, destination);
}

const LOCK_POLL_MS = 250;

/**
 * Runs `work` while holding an exclusive lock file. A lock left by a process that no longer exists is taken over,
 * so a crashed `ensure` never blocks the next one.
 */
export async function withLock<T>(lockFile: string, work: () => Promise<T>, onWait?: () => void): Promise<T> {
  await mkdir(dirname(lockFile), { recursive: true });
  let waited = false;
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number.parseInt(await readFile(lockFile, 'utf8').catch(() => ''), 10);
      if (Number.isFinite(holder) && holder > 0 && !isAlive(holder)) {
        await unlink(lockFile).catch(() => undefined);
        continue;
      }
      if (!waited) onWait?.();
      waited = true;
      await sleep(LOCK_POLL_MS);
    }
  }
  try {
    return await work();
  } finally {
    await rm(lockFile, { force: true });
  }
}
