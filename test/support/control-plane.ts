import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import { after, afterEach, before } from 'node:test';
import { processesMentioning } from '../../src/cluster/pid-files.ts';
import { isAlive } from '../../src/process/supervisor.ts';
import { type ControlPlaneHarness, startControlPlane } from './harness/control-plane.ts';

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
