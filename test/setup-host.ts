/**
 * The first step of `npm test` (alone: `npm run test:setup`): what the suites need from this host. As root, it
 * installs the missing Debian packages with the module `kamaji up` uses (src/cluster/prerequisites.ts); as anyone
 * else, it says that the end-to-end suites will be skipped, and why. Fails only when an installation fails.
 */
import { ensurePrerequisites, missingPackages, TEST_PREREQUISITES } from '../src/cluster/prerequisites.ts';
import { NEEDS_ROOT } from './support/needs-root.ts';

const say = (line: string) => process.stdout.write(`test setup: ${line.trim()}\n`);

const missing = await missingPackages(TEST_PREREQUISITES);
if (NEEDS_ROOT) {
  say(`not root: the end-to-end suites (test/e2e) will be skipped: ${NEEDS_ROOT}.`);
  if (missing.length > 0) {
    say(`host packages they need that are missing (installed when npm test runs as root): ${missing.join(' ')}`);
  }
} else if (missing.length === 0) {
  say('every host package the suites need is present');
} else {
  const started = performance.now();
  try {
    const installed = await ensurePrerequisites(say, TEST_PREREQUISITES);
    say(`installed ${installed.join(' ')} (${((performance.now() - started) / 1000).toFixed(1)}s)`);
  } catch (error) {
    process.stderr.write(`test setup: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
