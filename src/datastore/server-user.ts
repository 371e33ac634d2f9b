import { chmod, chown, readFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve } from 'node:path';

/**
 * The OS user a database server runs as. PostgreSQL refuses to run as root and MariaDB should not, so when this
 * process is root they run as the user their Debian package created (`postgres`, `mysql`); otherwise as this user.
 */
export interface ServerUser {
  name: string;
  /** `command args` as the server's OS user when this process is root; unchanged otherwise. */
  command(command: string, args: readonly string[]): [string, string[]];
  /** Gives a file or directory to the server's OS user (when root). */
  give(path: string): Promise<void>;
  /** The server runs as another OS user, who must be able to reach its directory. */
  isOther: boolean;
}

export async function serverUser(name: string): Promise<ServerUser> {
  const ids = await osUserIds(name);
  return {
    name,
    command: (command, args) =>
      ids
        ? ['/usr/bin/setpriv', [`--reuid=${ids.uid}`, `--regid=${ids.gid}`, '--clear-groups', '--', command, ...args]]
        : [command, [...args]],
    give: async (path) => {
      if (ids) await chown(path, ids.uid, ids.gid);
    },
    isOther: ids !== undefined,
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
 * directory between (a state dir made by mkdtemp is 0700). Above `root` nothing is changed: a parent others may
 * not search is refused, naming it and the fix.
 */
export async function allowTraversal(root: string, dir: string, user: string): Promise<void> {
  const closed: string[] = [];
  for (let parent = dirname(resolve(root)); ; parent = dirname(parent)) {
    if (((await stat(parent)).mode & 0o001) === 0) closed.push(parent);
    if (parent === dirname(parent)) break;
  }
  if (closed.length > 0) {
    throw new Error(
      `the ${user} OS user the server runs as cannot reach ${dir}: others may not search ${closed.join(', ')}; ` +
        `run "chmod o+x ${closed.join(' ')}" or choose a state dir whose parents others may search (/var/lib/kamaji, the default, is one)`,
    );
  }
  const steps = relative(resolve(root), resolve(dir)).split('/').filter(Boolean);
  const dirs = [resolve(root)];
  for (const step of steps.slice(0, -1)) dirs.push(resolve(dirs.at(-1) ?? root, step));
  for (const path of dirs) {
    const { mode } = await stat(path);
    if ((mode & 0o001) === 0) await chmod(path, (mode & 0o7777) | 0o001);
  }
}
