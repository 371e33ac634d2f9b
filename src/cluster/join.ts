import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './command.ts';

/** What `kubeadm token create --print-join-command` prints, taken apart. */
export interface JoinCommand {
  /** `host:port` of the API server the node joins. */
  endpoint: string;
  token: string;
  /** `sha256:<hex>` of the cluster CA's public key. */
  caCertHash: string;
}

/** A bootstrap token lives this long unless the caller says otherwise: long enough to boot a machine, no longer. */
export const DEFAULT_TOKEN_TTL = '1h';

/** Parses `kubeadm join <endpoint> --token <t> --discovery-token-ca-cert-hash <h>` (the flags in any order). */
export function parseJoinCommand(printed: string): JoinCommand {
  const words = printed.trim().split(/\s+/);
  const flag = (name: string) => {
    const index = words.indexOf(name);
    return index >= 0 ? words[index + 1] : undefined;
  };
  const endpoint = words[0] === 'kubeadm' && words[1] === 'join' ? words[2] : undefined;
  const token = flag('--token');
  const caCertHash = flag('--discovery-token-ca-cert-hash');
  if (!endpoint || endpoint.startsWith('-') || !token || !caCertHash) {
    throw new Error(`kubeadm printed no join command: ${JSON.stringify(printed.trim())}`);
  }
  return { endpoint, token, caCertHash };
}

/** The command line a machine runs to join, as kubeadm prints it. */
export function formatJoinCommand(command: JoinCommand): string {
  return `kubeadm join ${command.endpoint} --token ${command.token} --discovery-token-ca-cert-hash ${command.caCertHash}`;
}

/**
 * A new bootstrap token in the tenant and the join command for it, made by the real `kubeadm token create
 * --print-join-command` with the tenant's admin kubeconfig: exactly what a user of a kubeadm cluster runs.
 */
export async function createJoinCommand(kubeadm: string, adminKubeconfig: string, ttl = DEFAULT_TOKEN_TTL) {
  const dir = await mkdtemp(join(tmpdir(), 'kamaji-join-'));
  try {
    const kubeconfig = join(dir, 'admin.conf');
    await writeFile(kubeconfig, adminKubeconfig, { mode: 0o600 });
    const result = await runCommand(kubeadm, [
      'token',
      'create',
      '--print-join-command',
      `--ttl=${ttl}`,
      `--kubeconfig=${kubeconfig}`,
      '--description=made by kamaji',
    ]);
    return parseJoinCommand(result.stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
