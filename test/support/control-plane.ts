import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { access } from 'node:fs/promises';
import { after, afterEach, before } from 'node:test';
import { type ControlPlaneHarness, startControlPlane } from '../../src/harness/control-plane.ts';
import { isAlive } from '../../src/process/supervisor.ts';

/** Pids of processes whose command line mentions `fragment` (e.g. a harness work directory). */
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

/** Stops the harness and proves it left nothing: no process it started, none using its directory, no directory. */
export async function stopAndAssertNothingLeft(harness: ControlPlaneHarness): Promise<void> {
  await harness.stop();
  const alive = harness.pids().filter(isAlive);
  assert.deepEqual(alive, [], `processes still running after stop: ${alive.join(', ')}`);
  assert.deepEqual(processesMentioning(harness.dir), [], `processes still using ${harness.dir}`);
  await assert.rejects(access(harness.dir), { code: 'ENOENT' }, `${harness.dir} was not removed`);
}

/**
 * One real etcd + kube-apiserver for the suite in this file: started before its tests, component logs printed
 * after any test that fails, stopped (and checked for leaks) after the last one.
 */
export function useControlPlane(): () => ControlPlaneHarness {
  let harness: ControlPlaneHarness | undefined;
  before(async () => {
    harness = await startControlPlane();
  });
  afterEach(async (t) => {
    // `passed` is set on test contexts from Node 24 on; the typings only list it for suites.
    const failed = (t as { passed?: boolean }).passed === false;
    if (failed && harness)
      process.stderr.write(`\n--- component logs after "${t.name}" failed ---\n${await harness.logTails()}\n`);
  });
  after(async () => {
    if (harness) await stopAndAssertNothingLeft(harness);
  });
  return () => {
    if (!harness) throw new Error('the control plane harness did not start (see the before hook error)');
    return harness;
  };
}
