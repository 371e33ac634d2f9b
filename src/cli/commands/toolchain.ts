import { cacheRoot } from '../../toolchain/cache.ts';
import { ensureComponents, type Strategy } from '../../toolchain/ensure.ts';
import { COMPONENTS } from '../../toolchain/versions.ts';
import { type Command, UsageError } from '../command.ts';

const ensure: Command = {
  name: 'ensure',
  summary: 'Obtain pinned binaries: from the cache, else built from the Go module proxy, else downloaded and verified',
  usage: '[component...]   (default: every component)',
  options: { strategy: { type: 'string', multiple: true }, 'cache-dir': { type: 'string' } },
  optionHelp: {
    strategy: 'build or download; repeat to set the order (default: build if go is installed, then download)',
    'cache-dir': 'cache directory (default: $KAMAJI_CACHE or ~/.cache/kamaji)',
  },
  async run({ values, positionals }) {
    const names = positionals.length > 0 ? positionals : COMPONENTS.map((component) => component.name);
    const strategies = values.strategy as string[] | undefined;
    for (const strategy of strategies ?? []) {
      if (strategy !== 'build' && strategy !== 'download') {
        throw new UsageError(`--strategy must be "build" or "download", not "${strategy}"`);
      }
    }
    const ensured = await ensureComponents(names, {
      cacheDir: values['cache-dir'] as string | undefined,
      strategies: strategies as Strategy[] | undefined,
    });
    for (const binary of ensured.values()) {
      process.stdout.write(
        `${binary.component}\t${binary.version}\t${binary.obtainedBy}\t${binary.seconds.toFixed(2)}s\t${binary.path}\n`,
      );
    }
    return 0;
  },
};

const list: Command = {
  name: 'list',
  summary: 'List the pinned components and versions',
  usage: '',
  async run() {
    process.stdout.write(`cache: ${cacheRoot()}\n`);
    for (const component of COMPONENTS) {
      process.stdout.write(`${component.name.padEnd(24)} ${component.version.padEnd(9)} ${component.source.module}\n`);
    }
    return 0;
  },
};

export const toolchainCommand: Command = {
  name: 'toolchain',
  summary: 'Pinned Kubernetes, etcd, kine, konnectivity and CoreDNS binaries',
  usage: '<command>',
  subcommands: [ensure, list],
};
