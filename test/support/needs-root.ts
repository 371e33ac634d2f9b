/**
 * The one rule for suites that need root (the end-to-end suites: a real admin node with network namespaces,
 * mounts, containerd and iptables): skipped, with the reason, when not root; when root, they run, and a host
 * that lacks their packages fails them at once, naming the packages (not halfway with `spawn ... ENOENT`).
 */
import { missingPackages, TEST_PREREQUISITES } from '../../src/cluster/prerequisites.ts';

/** The test command that installs the host packages first (as root) and then runs every suite. */
export const SETUP_COMMAND = 'npm test (or npm run test:setup)';

/** For `describe(name, { skip: NEEDS_ROOT }, ...)`: the reason to skip, or false as root. */
export const NEEDS_ROOT: string | false =
  process.getuid?.() === 0
    ? false
    : `needs root (running as uid ${process.getuid?.()}): it runs a real admin node (network namespaces, mounts, ` +
      'containerd, iptables); run npm test as root';

/** First thing in a root suite's `before`: fails naming what is missing and how to install it. */
export async function requireHostPackages(): Promise<void> {
  const missing = await missingPackages(TEST_PREREQUISITES);
  if (missing.length > 0) {
    throw new Error(`missing host packages: ${missing.join(' ')}; ${SETUP_COMMAND} as root installs them`);
  }
}
