/** A kubeconfig file (clientcmd v1) holding one cluster, one user and one context. */
export interface Kubeconfig {
  apiVersion: 'v1';
  kind: 'Config';
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
  users: { name: string; user: { 'client-certificate-data': string; 'client-key-data': string } }[];
  contexts: { name: string; context: { cluster: string; user: string; namespace?: string } }[];
  'current-context': string;
  preferences: Record<string, never>;
}

export interface KubeconfigInput {
  clusterName: string;
  server: string;
  caCertificatePem: string;
  userName: string;
  clientCertificatePem: string;
  clientKeyPem: string;
}

const base64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

export function buildKubeconfig(input: KubeconfigInput): Kubeconfig {
  const contextName = `${input.userName}@${input.clusterName}`;
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: input.clusterName,
        cluster: { server: input.server, 'certificate-authority-data': base64(input.caCertificatePem) },
      },
    ],
    users: [
      {
        name: input.userName,
        user: {
          'client-certificate-data': base64(input.clientCertificatePem),
          'client-key-data': base64(input.clientKeyPem),
        },
      },
    ],
    contexts: [{ name: contextName, context: { cluster: input.clusterName, user: input.userName } }],
    'current-context': contextName,
    preferences: {},
  };
}

/**
 * YAML for a kubeconfig of one cluster, user and context. Written by hand, every value a double-quoted (JSON)
 * string, because a general YAML emitter costs more CPU than everything else in a tenant's kubeconfigs.
 */
export function kubeconfigToYaml(kubeconfig: Kubeconfig): string {
  const q = JSON.stringify;
  const lines = ['apiVersion: v1', 'kind: Config', 'clusters:'];
  for (const { name, cluster } of kubeconfig.clusters) {
    lines.push(`- name: ${q(name)}`, '  cluster:', `    server: ${q(cluster.server)}`);
    lines.push(`    certificate-authority-data: ${q(cluster['certificate-authority-data'])}`);
  }
  lines.push('users:');
  for (const { name, user } of kubeconfig.users) {
    lines.push(`- name: ${q(name)}`, '  user:');
    lines.push(`    client-certificate-data: ${q(user['client-certificate-data'])}`);
    lines.push(`    client-key-data: ${q(user['client-key-data'])}`);
  }
  lines.push('contexts:');
  for (const { name, context } of kubeconfig.contexts) {
    lines.push(
      `- name: ${q(name)}`,
      '  context:',
      `    cluster: ${q(context.cluster)}`,
      `    user: ${q(context.user)}`,
    );
    if (context.namespace) lines.push(`    namespace: ${q(context.namespace)}`);
  }
  lines.push(`current-context: ${q(kubeconfig['current-context'])}`, 'preferences: {}');
  return `${lines.join('\n')}\n`;
}
