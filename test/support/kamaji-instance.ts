import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, afterEach, before } from 'node:test';
import { type StateLayout, stateLayout } from '../../src/cluster/state.ts';
import { tailFile } from '../../src/process/supervisor.ts';
import { ensureComponent } from '../../src/toolchain/ensure.ts';
import { kamaji, printed } from './kamaji-cli.ts';
import { requireHostPackages } from './needs-root.ts';

/** A `kamaji up` instance of the suite's own: its state dir under a work dir, and kubectl. */
export interface KamajiInstance {
  /** Removed after the suite; the state dir is `state` in it. */
  workDir: string;
  layout: StateLayout;
  kubectlPath: string;
}

/**
 * The set-up every end-to-end suite shares: a fresh work dir (`/tmp/kamaji-<prefix>-e2e-*`), the host packages,
 * kubectl; after a failed test, the tail of every log of the instance; after the suite, `kamaji down --purge` when
 * the suite's own teardown test did not get that far, and the work dir removed. The suite calls `up` itself.
 */
export function useKamajiInstance(prefix: string): () => KamajiInstance {
  let instance: KamajiInstance | undefined;

  before(async () => {
    const workDir = await mkdtemp(`/tmp/kamaji-${prefix}-e2e-`);
    // Search (never read) for others: a datastore server's own OS user (postgres, mysql) reaches its data below.
    await chmod(workDir, 0o711);
    instance = { workDir, layout: stateLayout(join(workDir, 'state')), kubectlPath: '' };
    await requireHostPackages();
    instance.kubectlPath = (await ensureComponent('kubectl')).path;
  });

  afterEach(async (t) => {
    const logs = instance?.layout.dirs.logs;
    // `passed` is set on test contexts from Node 24 on; the typings only list it for suites.
    if ((t as { passed?: boolean }).passed !== false || !logs || !existsSync(logs)) return;
    const tails = readdirSync(logs).map(async (name) => `==> ${name} <==\n${await tailFile(join(logs, name), 30)}`);
    process.stderr.write(`\n--- logs after "${t.name}" failed ---\n${(await Promise.all(tails)).join('\n\n')}\n`);
  });

  after(async () => {
    if (!instance) return;
    if (existsSync(instance.layout.root)) {
      const down = await kamaji('down', `--state-dir=${instance.layout.root}`, '--purge');
      if (down.code !== 0) process.stderr.write(`cleanup: kamaji down --purge failed\n${printed(down)}\n`);
    }
    await rm(instance.workDir, { recursive: true, force: true });
  });

  return () => {
    assert.ok(instance, 'the instance is set up in before()');
    return instance;
  };
}
