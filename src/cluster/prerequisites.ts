import { execFile } from 'node:child_process';
import { access } from 'node:fs/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A file the host must have, and the Debian package that provides it. */
export interface Prerequisite {
  path: string;
  package: string;
}

/** What `kamaji up` needs from the host (the admin node, and the toolchain on a cold cache). */
export const PREREQUISITES: readonly Prerequisite[] = [
  { path: '/usr/bin/containerd', package: 'containerd' },
  { path: '/usr/bin/ctr', package: 'containerd' },
  { path: '/usr/sbin/runc', package: 'runc' },
  { path: '/usr/lib/cni/bridge', package: 'containernetworking-plugins' },
  { path: '/usr/sbin/iptables', package: 'iptables' },
  { path: '/usr/sbin/iptables-save', package: 'iptables' },
  // The kube-proxy image's iptables is copied from the host's nft backend, its extensions and libraries.
  { path: '/usr/sbin/xtables-nft-multi', package: 'iptables' },
  { path: '/usr/bin/ldd', package: 'libc-bin' },
  { path: '/usr/bin/docker-registry', package: 'docker-registry' },
  { path: '/usr/sbin/conntrack', package: 'conntrack' },
  { path: '/usr/bin/socat', package: 'socat' },
  { path: '/usr/bin/nsenter', package: 'util-linux' },
  { path: '/usr/bin/unshare', package: 'util-linux' },
  { path: '/usr/bin/setpriv', package: 'util-linux' },
  { path: '/usr/bin/mount', package: 'mount' },
  { path: '/usr/sbin/sysctl', package: 'procps' },
  { path: '/usr/sbin/ip', package: 'iproute2' },
  // The servers behind `up --datastore postgresql|mysql` and `datastore add` (src/cluster/datastores/).
  { path: '/usr/lib/postgresql/15/bin/postgres', package: 'postgresql-15' },
  { path: '/usr/lib/postgresql/15/bin/initdb', package: 'postgresql-15' },
  { path: '/usr/sbin/mariadbd', package: 'mariadb-server' },
  { path: '/usr/bin/mariadb-install-db', package: 'mariadb-server' },
  // The toolchain: `go build` fetches modules over HTTPS; the download fallback unpacks release archives.
  { path: '/etc/ssl/certs/ca-certificates.crt', package: 'ca-certificates' },
  { path: '/usr/bin/tar', package: 'tar' },
];

/**
 * What the test suites (`npm test`) need: everything `kamaji up` needs (the end-to-end suites run a real admin
 * node and `kamaji up`, whose PostgreSQL and MariaDB the SQL DataStore drivers are proven against), and git, which
 * `go` falls back to for a module the proxy does not serve (`direct`).
 */
export const TEST_PREREQUISITES: readonly Prerequisite[] = [...PREREQUISITES, { path: '/usr/bin/git', package: 'git' }];

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The Debian packages to install for what is missing, each once. */
export async function missingPackages(prerequisites: readonly Prerequisite[] = PREREQUISITES): Promise<string[]> {
  const missing = await Promise.all(
    prerequisites.map(async (item) => ((await exists(item.path)) ? undefined : item.package)),
  );
  return [...new Set(missing.filter((item) => item !== undefined))];
}

/**
 * Installs missing packages with apt-get (as root); where there is no apt-get, fails with the exact list to
 * install. Returns the packages it installed.
 */
export async function ensurePrerequisites(
  report: (line: string) => void,
  prerequisites: readonly Prerequisite[] = PREREQUISITES,
): Promise<string[]> {
  const packages = await missingPackages(prerequisites);
  if (packages.length === 0) return [];
  if (!(await exists('/usr/bin/apt-get'))) {
    throw new Error(`missing host packages: ${packages.join(' ')}; install them (Debian names) and run again`);
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
  const still = await missingPackages(prerequisites);
  if (still.length > 0)
    throw new Error(`apt-get installed ${packages.join(' ')}, yet still missing: ${still.join(' ')}`);
  return packages;
}
