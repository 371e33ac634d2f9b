/** `--flag=value` pairs from an arguments list; bare flags get an empty value. */
function parseFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of args) {
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg.trim());
    if (match?.[1]) flags.set(match[1], match[2] ?? '');
  }
  return flags;
}

/**
 * Managed flags first, then the user's extra flags that do not override one of them: a managed flag always wins,
 * because certificate paths and the datastore prefix are what keep tenants apart.
 */
export function mergeArgs(managed: Readonly<Record<string, string>>, extraArgs: readonly string[]): string[] {
  const extra = parseFlags(extraArgs);
  const args = Object.entries(managed).map(([flag, value]) => `--${flag}=${value}`);
  for (const [flag, value] of extra) {
    if (!(flag in managed)) args.push(value === '' ? `--${flag}` : `--${flag}=${value}`);
  }
  return args;
}
