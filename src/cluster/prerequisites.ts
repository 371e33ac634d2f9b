import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What the admin node needs from the host, where it looks for it, and the Debian package that provides it. */
export const PREREQUISITES = [
  { path: '/usr/bin/containerd', package: 'containerd' },
  { path: '/usr/bin/ctr', package: 'containerd' },
  { path: '/usr/sbin/runc', package: 'runc' },
  { path: '/usr/lib/cni/bridge', package: 'containernetworking-plugins' },
  { path: '/usr/sbin/iptables', package: 'iptables' },
  { path: '/usr/sbin/conntrack', package: 'conntrack' },
  { path: '/usr/bin/socat', package: 'socat' },
  { path: '/usr/bin/nsenter', package: 'util-linux' },
  { path: '/usr/bin/unshare', package: 'util-linux' },
  { path: '/usr/sbin/ip', package: 'iproute2' },
] as const;

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The Debian packages to install for what is missing, each once. */
export async function missingPackages(): Promise<string[]> {
  const missing = await Promise.all(
    PREREQUISITES.map(async (item) => ((await exists(item.path)) ? undefined : item.package)),
  );
  return [...new Set(missing.filter((item) => item !== undefined))];
}

/**
 * Installs missing runtime packages with apt-get; where there is no apt-get, fails with the exact list to install.
 */
export async function ensurePrerequisites(report: (line: string) => void): Promise<void> {
  const packages = await missingPackages();
  if (packages.length === 0) return;
  if (!(await exists('/usr/bin/apt-get'))) {
    throw new Error(
      `missing host packages: ${packages.join(' ')}; install them (Debian names) and run kamaji up again`,
    );
  }
  report(`  installing ${packages.join(' ')} with apt-get`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  try {
    await run('apt-get', ['update', '-qq'], { env, maxBuffer: 16 * 1024 * 1024 });
    await run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...packages], {
      env,
      maxBuffer: 16 * 1024 * 1024,
    });
  } catch (error) {
    throw new Error(
      `apt-get install ${packages.join(' ')} failed: ${(error as Error).message.split('\n').slice(-3).join(' ')}`,
    );
  }
}
