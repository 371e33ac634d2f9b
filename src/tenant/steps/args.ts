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
 * because certificate paths and the datastore prefix are what keep tenants apart. With `extraWins` (addons whose
 * flags upstream lets the user override, e.g. the konnectivity agent's), an extra flag replaces the managed one in
 * its place instead.
 */
export function mergeArgs(
  managed: Readonly<Record<string, string>>,
  extraArgs: readonly string[],
  options: { extraWins?: boolean } = {},
): string[] {
  const extra = parseFlags(extraArgs);
  const flag = (name: string, value: string) => (value === '' ? `--${name}` : `--${name}=${value}`);
  const args = Object.entries(managed).map(([name, value]) => {
    const override = options.extraWins ? extra.get(name) : undefined;
    return override === undefined ? `--${name}=${value}` : flag(name, override);
  });
  for (const [name, value] of extra) {
    if (!(name in managed)) args.push(flag(name, value));
  }
  return args;
}
