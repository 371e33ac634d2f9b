import type { CertificateAndKey } from '../../pki/certificates.ts';
import { buildKubeconfig, kubeconfigToYaml, readSingleKubeconfig } from '../../pki/kubeconfig.ts';
import type { TenantContext } from '../context.ts';
import { objectNames } from '../names.ts';
import {
  type DesiredSecret,
  keepOrIssue,
  LEAF_VALIDITY_DAYS,
  type PkiOptions,
  type SecretText,
} from './certificates.ts';
import { CLUSTER_ADMINS_GROUP } from './kubeadm.ts';

interface KubeconfigIdentity {
  key: string;
  commonName: string;
  organizations: string[];
  server: string;
}

/**
 * The client certificate inside a stored kubeconfig (one cluster, one user) that points at `server`; anything
 * else is not kept, and is rewritten. Parsed, not matched: how the YAML is quoted must not decide whether a
 * certificate is reissued (which would roll every tenant's pods).
 */
function storedClient(yaml: string | undefined, server: string): CertificateAndKey | undefined {
  const stored = yaml === undefined ? undefined : readSingleKubeconfig(yaml);
  if (stored?.server !== server) return undefined;
  return { certificatePem: stored.clientCertificatePem, privateKeyPem: stored.clientKeyPem };
}

async function kubeconfigFor(
  context: TenantContext,
  ca: CertificateAndKey,
  identity: KubeconfigIdentity,
  existing: SecretText | undefined,
  options: PkiOptions,
): Promise<string> {
  const client = await keepOrIssue(
    storedClient(existing?.[identity.key], identity.server),
    ca,
    {
      commonName: identity.commonName,
      organizations: identity.organizations,
      usages: ['clientAuth'],
      validityDays: LEAF_VALIDITY_DAYS,
      keyAlgorithm: context.keyAlgorithm,
    },
    options,
  );
  return kubeconfigToYaml(
    buildKubeconfig({
      clusterName: context.name,
      server: identity.server,
      caCertificatePem: ca.certificatePem,
      userName: identity.commonName,
      clientCertificatePem: client.certificatePem,
      clientKeyPem: client.privateKeyPem,
    }),
  );
}

async function kubeconfigSecret(
  context: TenantContext,
  ca: CertificateAndKey,
  name: string,
  component: string,
  identities: KubeconfigIdentity[],
  existing: ReadonlyMap<string, SecretText>,
  options: PkiOptions,
): Promise<DesiredSecret> {
  const current = existing.get(name);
  const entries = await Promise.all(
    identities.map(
      async (identity) => [identity.key, await kubeconfigFor(context, ca, identity, current, options)] as const,
    ),
  );
  return { name, component, data: Object.fromEntries(entries) };
}

/**
 * Kubeconfig Secrets: the admin's (reachable from outside at the endpoint, and inside the admin cluster through
 * the Service's DNS name) and the controller-manager's and scheduler's, which talk to the API server in their pod.
 */
export async function desiredKubeconfigSecrets(
  context: TenantContext,
  ca: CertificateAndKey,
  existing: ReadonlyMap<string, SecretText>,
  options: PkiOptions,
): Promise<DesiredSecret[]> {
  const names = objectNames(context.name);
  const external = `https://${context.endpointAddress}:${context.endpointPort}`;
  const internal = `https://${context.name}.${context.namespace}.svc:${context.port}`;
  const local = `https://localhost:${context.port}`;
  // As kubeadm ≥ 1.29: admin.conf is a cluster-admin by a binding (which the kubeadm phase creates), so it can be
  // revoked; only super-admin.conf keeps system:masters, which bypasses authorization.
  const masters = ['system:masters'];
  const admins = [CLUSTER_ADMINS_GROUP];
  return Promise.all([
    kubeconfigSecret(
      context,
      ca,
      names.adminKubeconfigSecret,
      'admin-kubeconfig',
      [
        { key: 'admin.conf', commonName: 'kubernetes-admin', organizations: admins, server: external },
        { key: 'admin.svc', commonName: 'kubernetes-admin', organizations: admins, server: internal },
        { key: 'super-admin.conf', commonName: 'kubernetes-super-admin', organizations: masters, server: external },
        { key: 'super-admin.svc', commonName: 'kubernetes-super-admin', organizations: masters, server: internal },
      ],
      existing,
      options,
    ),
    kubeconfigSecret(
      context,
      ca,
      names.controllerManagerKubeconfigSecret,
      'controller-manager-kubeconfig',
      [
        {
          key: 'controller-manager.conf',
          commonName: 'system:kube-controller-manager',
          organizations: [],
          server: local,
        },
      ],
      existing,
      options,
    ),
    kubeconfigSecret(
      context,
      ca,
      names.schedulerKubeconfigSecret,
      'scheduler-kubeconfig',
      [{ key: 'scheduler.conf', commonName: 'system:kube-scheduler', organizations: [], server: local }],
      existing,
      options,
    ),
  ]);
}
