import { type ParseArgsConfig, parseArgs } from 'node:util';

type OptionSpecs = NonNullable<ParseArgsConfig['options']>;

/** A CLI command: its help text is written next to its options, so `--help` never drifts from the parser. */
export interface Command {
  name: string;
  summary: string;
  usage: string;
  options?: OptionSpecs;
  /** One line per option for --help, keyed by option name. */
  optionHelp?: Record<string, string>;
  subcommands?: readonly Command[];
  run?: (parsed: ParsedCommand) => Promise<number>;
}

export interface ParsedCommand {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

export class UsageError extends Error {}

export function helpText(command: Command, path: string): string {
  const lines = [`${command.summary}`, '', `Usage: ${path} ${command.usage}`.trimEnd()];
  if (command.subcommands?.length) {
    lines.push('', 'Commands:');
    for (const sub of command.subcommands) lines.push(`  ${sub.name.padEnd(14)} ${sub.summary}`);
    lines.push('', `Run "${path} <command> --help" for a command's options.`);
  }
  const options = Object.entries(command.options ?? {});
  lines.push('', 'Options:');
  for (const [name, spec] of options) {
    const flag = `--${name}${spec.type === 'string' ? ' <value>' : ''}`;
    lines.push(`  ${flag.padEnd(24)} ${command.optionHelp?.[name] ?? ''}`.trimEnd());
  }
  lines.push(`  ${'--help'.padEnd(24)} show this help`);
  return `${lines.join('\n')}\n`;
}

/** Finds the command named by argv, prints help where asked, and runs it; returns the exit code. */
export async function dispatch(root: Command, argv: readonly string[]): Promise<number> {
  let command = root;
  let path = root.name;
  let rest = [...argv];
  for (;;) {
    const next = rest[0];
    const sub = next === undefined ? undefined : command.subcommands?.find((candidate) => candidate.name === next);
    if (!sub) break;
    command = sub;
    path = `${path} ${sub.name}`;
    rest = rest.slice(1);
  }
  if (rest.includes('--help') || rest.includes('-h') || !command.run) {
    const unknown = !command.run && rest.length > 0 && !rest[0]?.startsWith('-');
    if (unknown) {
      process.stderr.write(`${path}: unknown command "${rest[0]}"\n\n${helpText(command, path)}`);
      return 2;
    }
    process.stdout.write(helpText(command, path));
    return command.run || rest.includes('--help') || rest.includes('-h') ? 0 : 2;
  }
  let parsed: ParsedCommand;
  try {
    parsed = parseArgs({ args: rest, options: command.options ?? {}, allowPositionals: true, strict: true });
  } catch (error) {
    process.stderr.write(`${path}: ${(error as Error).message}\nRun "${path} --help" for usage.\n`);
    return 2;
  }
  try {
    return await command.run(parsed);
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`${path}: ${error.message}\nRun "${path} --help" for usage.\n`);
      return 2;
    }
    process.stderr.write(`${path}: ${(error as Error).message}\n`);
    return 1;
  }
}
