import { parse } from 'yaml';

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

/** The one cluster and one user of a kubeconfig, as `readSingleKubeconfig` finds them. */
export interface SingleKubeconfig {
  server: string;
  caCertificatePem: string | undefined;
  clientCertificatePem: string;
  clientKeyPem: string;
}

const fromBase64 = (text: string): string => Buffer.from(text, 'base64').toString('utf8');
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Reads back a kubeconfig of exactly one cluster and one user with inline client credentials, parsed as YAML (so
 * that quoting, key order or indentation, as any writer may choose them, do not matter). Anything else, YAML that
 * does not parse included, gives undefined.
 */
export function readSingleKubeconfig(yaml: string): SingleKubeconfig | undefined {
  let document: unknown;
  try {
    // Every value read here is a string: the failsafe schema resolves nothing else (and is the cheapest).
    document = parse(yaml, { schema: 'failsafe' });
  } catch {
    return undefined;
  }
  if (!isRecord(document)) return undefined;
  const { clusters, users } = document;
  if (!Array.isArray(clusters) || clusters.length !== 1 || !Array.isArray(users) || users.length !== 1)
    return undefined;
  const cluster = isRecord(clusters[0]) ? clusters[0].cluster : undefined;
  const user = isRecord(users[0]) ? users[0].user : undefined;
  if (!isRecord(cluster) || !isRecord(user)) return undefined;
  const { server, 'certificate-authority-data': ca } = cluster;
  const { 'client-certificate-data': certificate, 'client-key-data': key } = user;
  if (typeof server !== 'string' || typeof certificate !== 'string' || typeof key !== 'string') return undefined;
  return {
    server,
    caCertificatePem: typeof ca === 'string' ? fromBase64(ca) : undefined,
    clientCertificatePem: fromBase64(certificate),
    clientKeyPem: fromBase64(key),
  };
}
