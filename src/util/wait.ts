import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  timeoutMs: number;
  intervalMs?: number;
  /** Says what was awaited, for the timeout error. */
  description: string;
  /** Checked between attempts: a reason to stop waiting now (e.g. the process died), or undefined. */
  giveUp?: () => Promise<string | undefined>;
}

/**
 * Polls `probe` until it returns something other than undefined. The last error or state the probe reported is
 * kept for the timeout message, which is what one needs to know why it never came.
 */
export async function waitFor<T>(probe: () => Promise<T | undefined>, options: WaitOptions): Promise<T> {
  const deadline = Date.now() + options.timeoutMs;
  let lastProblem = 'no answer yet';
  for (;;) {
    try {
      const result = await probe();
      if (result !== undefined) return result;
    } catch (error) {
      lastProblem = (error as Error).message;
    }
    const reason = await options.giveUp?.();
    if (reason !== undefined) throw new Error(`gave up waiting for ${options.description}: ${reason}`);
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${options.timeoutMs / 1000}s waiting for ${options.description} (last: ${lastProblem})`,
      );
    }
    await sleep(options.intervalMs ?? 100);
  }
}
