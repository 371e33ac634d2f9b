import type { Command } from '../command.ts';

export const installCommand: Command = {
  name: 'install',
  summary: "Install Kamaji into a cluster with its Helm chart (the toolchain's helm), or print the plain manifest",
  usage: '[--print] [--namespace N] [--set key=value ...] [--kubeconfig FILE]',
  options: {
    print: { type: 'boolean', default: false },
    namespace: { type: 'string', short: 'n', default: 'kamaji-system' },
    release: { type: 'string', default: 'kamaji' },
    set: { type: 'string', multiple: true, default: [] },
    kubeconfig: { type: 'string' },
  },
  optionHelp: {
    print: 'write every object (CRDs first) to stdout for kubectl apply -f -, instead of installing',
    namespace: 'namespace of the manager, its Lease and Services (default kamaji-system; created if missing)',
    release: 'Helm release name; the objects are named after it (default kamaji)',
    set: 'a chart value, e.g. replicaCount=1 or image.tag=v0.1.0; repeat for several (charts/kamaji/README.md)',
    kubeconfig: 'the cluster to install into (default: $KUBECONFIG or ~/.kube/config)',
  },
  async run({ values }) {
    // Loaded on use: the toolchain and child processes are only for this command.
    const { helm, helmUpgradeArgs, plainManifest } = await import('../../cluster/helm.ts');
    const release = {
      name: String(values.release),
      namespace: String(values.namespace),
      values: values.set as string[],
    };
    if (values.print) {
      process.stdout.write(await plainManifest(release));
      return 0;
    }
    process.stdout.write(await helm(helmUpgradeArgs(release, values.kubeconfig as string | undefined)));
    return 0;
  },
};
