import { type Command, UsageError } from '../command.ts';
import { layoutOf, stateDirHelp, stateDirOption } from './state-dir.ts';

const tagOption = { tag: { type: 'string' } } as const;
const tagHelp = { tag: "the image tag (default v<package.json's version>)" };

/** The reference under `--tag`, a bad tag a usage error. */
async function referenceOf(values: Record<string, unknown>): Promise<{ reference: string; tag?: string }> {
  const { operatorImageReference } = await import('../../cluster/operator-image.ts');
  const tag = values.tag === undefined ? undefined : String(values.tag);
  try {
    return { reference: operatorImageReference(tag), tag };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

const megabytes = (bytes: number) => `${(bytes / 1_000_000).toFixed(1)} MB`;

const build: Command = {
  name: 'build',
  summary: 'Build the operator image (no Docker daemon): into the image cache, and as an OCI layout with --output',
  usage: '[--tag T] [--output DIR]',
  options: { ...tagOption, output: { type: 'string' } },
  optionHelp: {
    ...tagHelp,
    output: 'write an OCI image layout directory there (push it with skopeo copy oci:DIR docker://..., crane, oras)',
  },
  async run({ values }) {
    const { reference } = await referenceOf(values);
    const { operatorImageBuild, withReference } = await import('../../cluster/operator-image.ts');
    const { layerSizes, writeOciLayout } = await import('../../cluster/images.ts');
    const started = Date.now();
    const image = withReference(await (await operatorImageBuild()).load(), reference);
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (values.output !== undefined) await writeOciLayout(String(values.output), image);
    const { compressed, uncompressed } = await layerSizes(image);
    process.stdout.write(
      `${reference}\ndigest ${image.manifest.digest}\n` +
        `size ${megabytes(compressed)} compressed, ${megabytes(uncompressed)} uncompressed (ready in ${seconds}s)\n` +
        (values.output === undefined ? '' : `OCI layout in ${String(values.output)}\n`),
    );
    return 0;
  },
};

const push: Command = {
  name: 'push',
  summary: "Build the operator image and push it to a running local cluster's registry",
  usage: '[--tag T] [--state-dir DIR]',
  options: { ...stateDirOption, ...tagOption },
  optionHelp: { ...stateDirHelp, ...tagHelp },
  async run({ values }) {
    const { tag } = await referenceOf(values);
    const { publishOperatorImage } = await import('../../cluster/operator-image.ts');
    const reference = await publishOperatorImage(layoutOf(values), {
      tag,
      report: (line) => process.stderr.write(`${line}\n`),
    });
    process.stdout.write(`${reference}\n`);
    return 0;
  },
};

export const imageCommand: Command = {
  name: 'image',
  summary: 'The operator image: build it, push it to the local registry',
  usage: '<command>',
  subcommands: [build, push],
};
