import { runCommand } from '../../src/cluster/command.ts';

/** The host's iptables rules that a Kubernetes node (or instance `id`) would add; none may survive `down`. */
export async function hostIptablesLinesOf(id: string): Promise<string[]> {
  const { stdout } = await runCommand('iptables-save', []);
  return stdout.split('\n').filter((line) => /KUBE-|CNI-/.test(line) || line.includes(id));
}
