import { spawn } from 'node:child_process';

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  /** Written to the command's stdin. */
  input?: string | Buffer;
  /** Return a non-zero exit instead of throwing (for probes like "does this exist?"). */
  allowFailure?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Runs a short command to completion; a failure throws with the command line and the end of its stderr. */
export function runCommand(
  command: string,
  args: readonly string[],
  options: CommandOptions = {},
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (error) => reject(new Error(`${command}: ${error.message}`)));
    child.on('close', (code, signal) => {
      const result = {
        code: code ?? 128,
        stdout: Buffer.concat(stdout).toString('utf8'),
        stderr: Buffer.concat(stderr).toString('utf8'),
      };
      if (result.code === 0 || options.allowFailure) {
        resolve(result);
        return;
      }
      const why = signal ? `killed by ${signal}` : `exit ${result.code}`;
      const detail = (result.stderr || result.stdout).trim().split('\n').slice(-15).join('\n');
      reject(new Error(`${[command, ...args].join(' ')} failed (${why}):\n${detail}`));
    });
    // A command that exits without reading its input must not turn into an EPIPE error here.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input);
  });
}
