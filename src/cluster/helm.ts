import { join } from 'node:path';
import { ensureComponent } from '../toolchain/ensure.ts';
import { runCommand } from './command.ts';

/** The chart in this repository: what `kamaji up`, `kamaji install` and users of Helm install. */
export const CHART_DIR = join(import.meta.dirname, '..', '..', 'charts', 'kamaji');

/** One release of the chart: its name, namespace and `--set key=value` overrides, in order. */
export interface ChartRelease {
  name: string;
  namespace: string;
  values: readonly string[];
}

function setFlags(values: readonly string[]): string[] {
  for (const value of values) {
    if (!/^[^=]+=/.test(value)) throw new Error(`--set ${value}: give key=value (e.g. replicaCount=1)`);
  }
  return values.flatMap((value) => ['--set', value]);
}

/** `helm template`: every object of the release, CRDs first, for `kubectl apply` without Helm. */
export function helmTemplateArgs(release: ChartRelease): string[] {
  return [
    'template',
    release.name,
    CHART_DIR,
    '--namespace',
    release.namespace,
    '--include-crds',
    ...setFlags(release.values),
  ];
}

/**
 * `helm upgrade --install`: installs the release or upgrades it to these values. `--reset-values`: what is not
 * given now returns to the chart's default, so one command line always says the whole configuration.
 */
export function helmUpgradeArgs(release: ChartRelease, kubeconfig: string | undefined): string[] {
  return [
    'upgrade',
    '--install',
    release.name,
    CHART_DIR,
    '--namespace',
    release.namespace,
    '--create-namespace',
    '--reset-values',
    ...(kubeconfig ? ['--kubeconfig', kubeconfig] : []),
    ...setFlags(release.values),
  ];
}

/** Runs the toolchain's helm (built on first use) and returns what it printed on stdout. */
export async function helm(args: readonly string[]): Promise<string> {
  const binary = await ensureComponent('helm');
  return (await runCommand(binary.path, args)).stdout;
}

/**
 * The plain manifest `kamaji install --print` writes: the release's namespace (which `helm template` leaves to
 * `--create-namespace`), then every object of the chart, CRDs first.
 */
export async function plainManifest(release: ChartRelease): Promise<string> {
  const namespace = `---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${release.namespace}\n`;
  return namespace + (await helm(helmTemplateArgs(release)));
}
