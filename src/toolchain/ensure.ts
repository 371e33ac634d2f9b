import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { binaryPath, cacheRoot, installAtomically, isExecutable, scratchDirectory, withLock } from './cache.ts';
import { downloadRelease } from './download.ts';
import { buildFromSource, hasGo } from './go-build.ts';
import { type Component, componentNamed } from './versions.ts';

export type Strategy = 'build' | 'download';

export interface EnsureOptions {
  cacheDir?: string;
  /** Which ways to obtain a missing binary, in order. Default: build when `go` is present, then download. */
  strategies?: readonly Strategy[];
  /** Fetch releases from `<mirror>/<host>/<path>` instead; default $KAMAJI_RELEASE_MIRROR. */
  mirror?: string;
  /** Where progress goes; stderr by default. */
  report?: (line: string) => void;
}

export interface EnsuredBinary {
  component: string;
  version: string;
  path: string;
  obtainedBy: 'cache' | Strategy;
  seconds: number;
}

const PROGRESS_INTERVAL_MS = 15_000;

function formatSeconds(ms: number): string {
  const seconds = Math.round(ms / 1000);
  return seconds >= 60 ? `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s` : `${seconds}s`;
}

/** Runs `work`, printing what it is doing every few seconds so that a long build never looks hung. */
async function withProgress<T>(report: (line: string) => void, what: string, work: () => Promise<T>): Promise<T> {
  const started = Date.now();
  report(`${what} ...`);
  const ticker = setInterval(() => report(`${what} ... ${formatSeconds(Date.now() - started)}`), PROGRESS_INTERVAL_MS);
  try {
    const result = await work();
    report(`${what}: done in ${formatSeconds(Date.now() - started)}`);
    return result;
  } finally {
    clearInterval(ticker);
  }
}

async function obtain(
  component: Component,
  strategy: Strategy,
  root: string,
  scratch: string,
  mirror: string | undefined,
): Promise<string> {
  if (strategy === 'build') {
    const output = join(scratch, component.name);
    await buildFromSource(component.source, join(root, 'build', `${component.name}-${component.version}`), output);
    return output;
  }
  if (!component.download) throw new Error(`${component.name} publishes no release binaries; it can only be built`);
  return downloadRelease(component.download, scratch, component.name, mirror);
}

/** Makes one pinned binary available in the cache and returns where it is. */
export async function ensureComponent(name: string, options: EnsureOptions = {}): Promise<EnsuredBinary> {
  const component = componentNamed(name);
  const root = options.cacheDir ?? cacheRoot();
  const report = options.report ?? ((line: string) => process.stderr.write(`toolchain: ${line}\n`));
  const path = binaryPath(root, component.name, component.version);
  const started = Date.now();
  const label = `${component.name} ${component.version}`;
  if (await isExecutable(path)) {
    return {
      component: name,
      version: component.version,
      path,
      obtainedBy: 'cache',
      seconds: (Date.now() - started) / 1000,
    };
  }
  const lockFile = join(root, 'locks', `${component.name}-${component.version}.lock`);
  return withLock(
    lockFile,
    async () => {
      // Another process may have finished it while this one waited for the lock.
      if (await isExecutable(path)) {
        return {
          component: name,
          version: component.version,
          path,
          obtainedBy: 'cache' as const,
          seconds: (Date.now() - started) / 1000,
        };
      }
      const strategies = options.strategies ?? ((await hasGo()) ? ['build', 'download'] : ['download']);
      const failures: string[] = [];
      for (const strategy of strategies) {
        const scratch = await scratchDirectory(root);
        try {
          const verb = strategy === 'build' ? 'building from the Go module proxy' : 'downloading the official release';
          const built = await withProgress(report, `${label}: ${verb}`, () =>
            obtain(component, strategy, root, scratch, options.mirror ?? process.env.KAMAJI_RELEASE_MIRROR),
          );
          await installAtomically(built, path);
          return {
            component: name,
            version: component.version,
            path,
            obtainedBy: strategy,
            seconds: (Date.now() - started) / 1000,
          };
        } catch (error) {
          failures.push(`${strategy}: ${(error as Error).message}`);
          report(`${label}: ${strategy} failed: ${(error as Error).message}`);
        } finally {
          await rm(scratch, { recursive: true, force: true });
        }
      }
      throw new Error(`could not obtain ${label}:\n  ${failures.join('\n  ')}`);
    },
    () => report(`${label}: waiting for another process that is obtaining it`),
  );
}

/** Ensures several components, one after the other (builds use every core already). */
export async function ensureComponents(
  names: readonly string[],
  options: EnsureOptions = {},
): Promise<Map<string, EnsuredBinary>> {
  const ensured = new Map<string, EnsuredBinary>();
  for (const name of names) ensured.set(name, await ensureComponent(name, options));
  return ensured;
}
