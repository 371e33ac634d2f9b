import { customResourceDefinitionsYaml } from '../../api/crds.ts';
import type { Command } from '../command.ts';

export const crdsCommand: Command = {
  name: 'crds',
  summary: 'Print the kamaji.clastix.io CustomResourceDefinitions as YAML (e.g. for kubectl apply -f -)',
  usage: '',
  async run() {
    process.stdout.write(customResourceDefinitionsYaml());
    return 0;
  },
};
