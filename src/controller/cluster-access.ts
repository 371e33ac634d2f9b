import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

/**
 * How to reach one API server: its URL and the credentials a controller uses (client certificate or bearer
 * token). Loaded here rather than through @kubernetes/client-node's KubeConfig, whose import alone costs the
 * process about 85 MiB of memory, more than a hundred tenants' worth of state.
 */
export interface ClusterAccess {
  server: string;
  caPem?: string;
  certificatePem?: string;
  keyPem?: string;
  token?: string;
  /** Read on every request: projected service-account tokens rotate. */
  tokenFile?: string;
  insecureSkipTlsVerify?: boolean;
}

interface KubeconfigFile {
  'current-context'?: string;
  contexts?: ({ name: string } & { context?: { cluster?: string; user?: string } })[];
  clusters?: ({ name: string } & {
    cluster?: {
      server?: string;
      'certificate-authority'?: string;
      'certificate-authority-data'?: string;
      'insecure-skip-tls-verify'?: boolean;
    };
  })[];
  users?: ({ name: string } & {
    user?: {
      'client-certificate'?: string;
      'client-certificate-data'?: string;
      'client-key'?: string;
      'client-key-data'?: string;
      token?: string;
      tokenFile?: string;
      exec?: unknown;
      'auth-provider'?: unknown;
    };
  })[];
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The current context of a kubeconfig; file references are resolved against the kubeconfig's own directory. */
export function accessFromKubeconfig(text: string, baseDir: string, source = 'kubeconfig'): ClusterAccess {
  const file = (parse(text) ?? {}) as KubeconfigFile;
  const contextName = file['current-context'];
  const context = file.contexts?.find((entry) => entry.name === contextName)?.context;
  if (!context) throw new Error(`${source}: current-context "${contextName ?? ''}" is not among its contexts`);
  const cluster = file.clusters?.find((entry) => entry.name === context.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`${source}: cluster "${context.cluster ?? ''}" has no server`);
  const user = file.users?.find((entry) => entry.name === context.user)?.user ?? {};
  if (user.exec || user['auth-provider']) {
    throw new Error(
      `${source}: user "${context.user}" uses an exec or auth-provider plugin; give the manager a client certificate or token`,
    );
  }
  const resolvePath = (path: string) => (isAbsolute(path) ? path : join(baseDir, path));
  const inline = (data: string | undefined, path: string | undefined) =>
    data ? Buffer.from(data, 'base64').toString('utf8') : path ? readFileSync(resolvePath(path), 'utf8') : undefined;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    caPem: inline(cluster['certificate-authority-data'], cluster['certificate-authority']),
    certificatePem: inline(user['client-certificate-data'], user['client-certificate']),
    keyPem: inline(user['client-key-data'], user['client-key']),
    token: user.token,
    tokenFile: user.tokenFile && resolvePath(user.tokenFile),
    insecureSkipTlsVerify: cluster['insecure-skip-tls-verify'],
  };
}

/** Inside a pod: the API server from the environment, the pod's service-account token and CA. */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env): ClusterAccess | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    caPem: readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt'), 'utf8'),
    tokenFile: join(SERVICE_ACCOUNT_DIR, 'token'),
  };
}

/** As kubectl looks: the given file, else $KUBECONFIG's first file, else in-cluster, else ~/.kube/config. */
export function loadClusterAccess(kubeconfig?: string, env: NodeJS.ProcessEnv = process.env): ClusterAccess {
  const fromFile = (path: string) => accessFromKubeconfig(readFileSync(path, 'utf8'), dirname(path), path);
  if (kubeconfig) return fromFile(kubeconfig);
  const listed = env.KUBECONFIG?.split(':').find((path) => path.length > 0);
  if (listed) return fromFile(listed);
  return inClusterAccess(env) ?? fromFile(join(homedir(), '.kube', 'config'));
}
