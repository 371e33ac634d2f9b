import { stringify } from 'yaml';

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

export function kubeconfigToYaml(kubeconfig: Kubeconfig): string {
  return stringify(kubeconfig);
}
