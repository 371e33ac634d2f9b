import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { GoSource } from './versions.ts';

const run = promisify(execFile);

/** The modules a go.mod requires, from `require x v` lines and `require ( ... )` blocks. */
export function requiredModules(goMod: string): Set<string> {
  const modules = new Set<string>();
  for (const match of goMod.matchAll(/^require\s+([^\s(]+)\s+v\S+/gm)) modules.add(match[1] ?? '');
  for (const block of goMod.matchAll(/^require\s*\(([\s\S]*?)^\)/gm)) {
    for (const line of (block[1] ?? '').matchAll(/^\s*([^\s/][^\s]*)\s+v\S+/gm)) modules.add(line[1] ?? '');
  }
  return modules;
}

/**
 * The required modules that a go.mod replaces with local directories (`=> ./x` or `=> ../x`). Replacements of
 * modules it does not require are guards (etcd points them at ./FORBIDDEN_DEPENDENCY) and are left out.
 */
export function localReplacements(goMod: string): string[] {
  const required = requiredModules(goMod);
  const modules: string[] = [];
  const pattern = /^\s*(?:replace\s+)?([^\s()]+)(?:\s+v\S+)?\s+=>\s+\.{1,2}\/\S*\s*$/gm;
  for (const match of goMod.matchAll(pattern)) {
    if (match[1] && required.has(match[1])) modules.push(match[1]);
  }
  return modules;
}

/**
 * A wrapper module that requires the pinned source module. A module's own `replace` directives are ignored when it
 * is a dependency, and Kubernetes replaces its staging modules with local directories; so each local replacement
 * becomes the published module at the matching version.
 */
export function wrapperGoMod(source: GoSource, sourceGoMod: string): string {
  const replacements = localReplacements(sourceGoMod).map(
    (module) => `\t${module} => ${module} ${source.localReplaceVersion}`,
  );
  // The wrapper needs at least the Go version the source module declares.
  const goVersion = /^go\s+(\S+)\s*$/m.exec(sourceGoMod)?.[1] ?? '1.24';
  const lines = [
    'module kamaji.local/toolchain-build',
    '',
    `go ${goVersion}`,
    '',
    `require ${source.module} ${source.version}`,
  ];
  if (replacements.length > 0) lines.push('', 'replace (', ...replacements, ')');
  return `${lines.join('\n')}\n`;
}

export function goBuildArgs(source: GoSource, output: string): string[] {
  const variables = Object.entries(source.versionVariables).map(([name, value]) => `-X ${name}=${value}`);
  return [
    'build',
    '-mod=mod',
    '-trimpath',
    '-ldflags',
    ['-s', '-w', ...variables].join(' '),
    '-o',
    output,
    source.package,
  ];
}

export function goEnvironment(): NodeJS.ProcessEnv {
  // GOTOOLCHAIN=local: never download another Go; CGO off: static binaries that run inside minimal images.
  return { ...process.env, CGO_ENABLED: '0', GOTOOLCHAIN: 'local', GOFLAGS: '-buildvcs=false' };
}

export async function hasGo(): Promise<boolean> {
  try {
    await run('go', ['version'], { env: goEnvironment() });
    return true;
  } catch {
    return false;
  }
}

/** Builds `source` into `output`, using `workDir` for the wrapper module. */
export async function buildFromSource(source: GoSource, workDir: string, output: string): Promise<void> {
  await mkdir(workDir, { recursive: true });
  const env = goEnvironment();
  const maxBuffer = 64 * 1024 * 1024;
  try {
    // A bare module first: a wrapper left by an earlier version of this code must not break the download.
    await writeFile(join(workDir, 'go.mod'), 'module kamaji.local/toolchain-build\n');
    const { stdout } = await run('go', ['mod', 'download', '-json', `${source.module}@${source.version}`], {
      cwd: workDir,
      env,
      maxBuffer,
    });
    const { GoMod } = JSON.parse(stdout) as { GoMod: string };
    await writeFile(join(workDir, 'go.mod'), wrapperGoMod(source, await readFile(GoMod, 'utf8')));
    await run('go', goBuildArgs(source, output), { cwd: workDir, env, maxBuffer });
  } catch (error) {
    const details = error as { stderr?: string; stdout?: string; message: string };
    const output = (details.stderr || details.stdout || details.message).trim().split('\n').slice(-15).join('\n');
    throw new Error(`go build of ${source.package}@${source.version} failed:\n${output}`);
  }
}
