import type { Command } from '../command.ts';

export const crdsCommand: Command = {
  name: 'crds',
  summary: 'Print the kamaji.clastix.io CustomResourceDefinitions as YAML (e.g. for kubectl apply -f -)',
  usage: '',
  async run() {
    // Loaded on use: building the CRDs pulls in @kubernetes/client-node, which no other command needs.
    const { customResourceDefinitionsYaml } = await import('../../api/crds.ts');
    process.stdout.write(customResourceDefinitionsYaml());
    return 0;
  },
};
