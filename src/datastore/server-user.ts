import { chmod, chown, readFile, stat } from 'node:fs/promises';
import { relative, resolve } from 'node:path';

/**
 * The OS user a database server runs as. PostgreSQL refuses to run as root and MariaDB should not, so when this
 * process is root they run as the user their Debian package created (`postgres`, `mysql`); otherwise as this user.
 */
export interface ServerUser {
  /** `command args` as the server's OS user when this process is root; unchanged otherwise. */
  command(command: string, args: readonly string[]): [string, string[]];
  /** Gives a file or directory to the server's OS user (when root). */
  give(path: string): Promise<void>;
}

export async function serverUser(name: string): Promise<ServerUser> {
  const ids = await osUserIds(name);
  return {
    command: (command, args) =>
      ids
        ? ['/usr/bin/setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--', command, ...args]]
        : [command, [...args]],
    give: async (path) => {
      if (ids) await chown(path, ids.uid, ids.gid);
    },
  };
}

/** The uid and gid of an OS user when running as root; else none. */
async function osUserIds(user: string): Promise<{ uid: number; gid: number } | undefined> {
  if (process.getuid?.() !== 0) return undefined;
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((entry) => entry.startsWith(`${user}:`));
  const [, , uid, gid] = line?.split(':') ?? [];
  if (!uid || !gid) throw new Error(`no ${user} OS user: install the server's Debian package (kamaji up does)`);
  return { uid: Number(uid), gid: Number(gid) };
}

/**
 * Lets another OS user reach `dir` below `root`: search permission (x, never r) for others on `root` and every
 * directory between. A state dir made by mkdtemp is 0700, and the server's user must reach its data directory.
 */
export async function allowTraversal(root: string, dir: string): Promise<void> {
  const steps = relative(resolve(root), resolve(dir)).split('/').filter(Boolean);
  const dirs = [resolve(root)];
  for (const step of steps.slice(0, -1)) dirs.push(resolve(dirs.at(-1) ?? root, step));
  for (const path of dirs) {
    const { mode } = await stat(path);
    if ((mode & 0o001) === 0) await chmod(path, (mode & 0o7777) | 0o001);
  }
}
