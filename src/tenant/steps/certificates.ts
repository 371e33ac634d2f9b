import { createPrivateKey, X509Certificate } from 'node:crypto';
import {
  type CertificateAndKey,
  type CertificateRequest,
  createCertificateAuthority,
  createKeyPair,
  issueCertificate,
  type KeyAlgorithm,
  needsRenewal,
} from '../../pki/certificates.ts';
import { addressInCidr } from '../../util/ip.ts';
import type { TenantContext } from '../context.ts';
import { objectNames } from '../names.ts';

/** kubeadm's lifetimes: CAs for ten years, leaves for one. */
export const CA_VALIDITY_DAYS = 3650;
export const LEAF_VALIDITY_DAYS = 365;
/** Leaves are renewed this long before they expire. */
export const RENEW_BEFORE_DAYS = 30;

/** A Secret's data as text: key → PEM or file content. */
export type SecretText = Record<string, string>;

export interface DesiredSecret {
  name: string;
  component: string;
  /** The Secret's type; Opaque when unset. */
  type?: string;
  data: SecretText;
}

export interface PkiOptions {
  /** Renew everything (the rotate annotation). */
  rotate: boolean;
  now?: Date;
}

/** Every name a client may use for the tenant API server, in and out of the admin cluster. */
export function apiServerSubjectAltNames(context: TenantContext): string[] {
  const service = context.name;
  const names = [
    'localhost',
    '127.0.0.1',
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${context.clusterDomain}`,
    addressInCidr(context.serviceCidr, 1),
    service,
    `${service}.${context.namespace}`,
    `${service}.${context.namespace}.svc`,
    `${service}.${context.namespace}.svc.${context.clusterDomain}`,
    context.endpointAddress,
    context.advertiseAddress,
    ...context.certSANs,
  ];
  return [...new Set(names.filter((name) => name.length > 0))];
}

function subjectAltNamesOf(certificate: X509Certificate): Set<string> {
  const names = (certificate.subjectAltName ?? '').split(', ').filter((entry) => entry.length > 0);
  return new Set(names.map((entry) => entry.replace(/^(DNS|IP Address):/, '')));
}

/**
 * Whether a stored leaf can be kept: it parses, matches its key, was issued by this CA, is not close to expiry,
 * and carries exactly the wanted names. Anything else (including a Secret edited by hand) is reissued.
 */
/** The identity a client certificate carries (CN, and O as groups): a changed one is reissued. */
function sameSubject(certificate: X509Certificate, request: CertificateRequest): boolean {
  const fields = certificate.subject
    .split('\n')
    .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]);
  const values = (field: string) => fields.filter(([name]) => name === field).map(([, value]) => value ?? '');
  const organizations = values('O').sort();
  const wanted = [...(request.organizations ?? [])].sort();
  return (
    values('CN')[0] === request.commonName &&
    organizations.length === wanted.length &&
    organizations.every((value, index) => value === wanted[index])
  );
}

function canKeep(
  existing: CertificateAndKey | undefined,
  ca: CertificateAndKey,
  request: CertificateRequest,
  now: Date,
) {
  if (!existing?.certificatePem || !existing.privateKeyPem) return false;
  if (needsRenewal(existing.certificatePem, RENEW_BEFORE_DAYS, now)) return false;
  try {
    const certificate = new X509Certificate(existing.certificatePem);
    if (!certificate.checkIssued(new X509Certificate(ca.certificatePem))) return false;
    if (!certificate.checkPrivateKey(createPrivateKey(existing.privateKeyPem))) return false;
    if (!sameSubject(certificate, request)) return false;
    const wanted = new Set(request.subjectAltNames ?? []);
    const actual = subjectAltNamesOf(certificate);
    return wanted.size === actual.size && [...wanted].every((name) => actual.has(name));
  } catch {
    return false;
  }
}

export async function keepOrIssue(
  existing: CertificateAndKey | undefined,
  ca: CertificateAndKey,
  request: CertificateRequest,
  options: PkiOptions,
): Promise<CertificateAndKey> {
  if (!options.rotate && canKeep(existing, ca, request, options.now ?? new Date())) return existing!;
  return issueCertificate(ca, { ...request, notBefore: options.now });
}

function canKeepAuthority(existing: CertificateAndKey | undefined, now: Date): existing is CertificateAndKey {
  if (!existing?.certificatePem || !existing.privateKeyPem) return false;
  if (needsRenewal(existing.certificatePem, RENEW_BEFORE_DAYS, now)) return false;
  try {
    const certificate = new X509Certificate(existing.certificatePem);
    return certificate.ca && certificate.checkPrivateKey(createPrivateKey(existing.privateKeyPem));
  } catch {
    return false;
  }
}

async function keepOrCreateAuthority(
  existing: CertificateAndKey | undefined,
  commonName: string,
  keyAlgorithm: KeyAlgorithm,
  now: Date,
): Promise<CertificateAndKey> {
  // A CA is never rotated by the annotation: that would cut off every node and client at once.
  if (canKeepAuthority(existing, now)) return existing;
  return createCertificateAuthority(commonName, { validityDays: CA_VALIDITY_DAYS, keyAlgorithm, notBefore: now });
}

function pair(data: SecretText | undefined, certificateKey: string, privateKey: string): CertificateAndKey | undefined {
  if (!data) return undefined;
  return { certificatePem: data[certificateKey] ?? '', privateKeyPem: data[privateKey] ?? '' };
}

/**
 * The certificate Secrets of a tenant, keyed by kubeadm's file names: kept where still good, issued where not.
 * `existing` maps Secret names to their current data.
 */
export async function desiredCertificateSecrets(
  context: TenantContext,
  existing: ReadonlyMap<string, SecretText>,
  options: PkiOptions,
): Promise<DesiredSecret[]> {
  const names = objectNames(context.name);
  const now = options.now ?? new Date();
  const keyAlgorithm = context.keyAlgorithm;
  const leaf = (request: Omit<CertificateRequest, 'validityDays' | 'keyAlgorithm'>): CertificateRequest => ({
    ...request,
    validityDays: LEAF_VALIDITY_DAYS,
    keyAlgorithm,
  });

  const [ca, frontProxyCa] = await Promise.all([
    keepOrCreateAuthority(pair(existing.get(names.caSecret), 'ca.crt', 'ca.key'), 'kubernetes', keyAlgorithm, now),
    keepOrCreateAuthority(
      pair(existing.get(names.frontProxyCaSecret), 'front-proxy-ca.crt', 'front-proxy-ca.key'),
      'front-proxy-ca',
      keyAlgorithm,
      now,
    ),
  ]);
  const serviceAccountData = existing.get(names.serviceAccountSecret);
  const serviceAccount =
    serviceAccountData?.['sa.key'] && serviceAccountData['sa.pub']
      ? { privateKeyPem: serviceAccountData['sa.key'], publicKeyPem: serviceAccountData['sa.pub'] }
      : await createKeyPair(keyAlgorithm);

  const [apiServer, kubeletClient, frontProxyClient] = await Promise.all([
    keepOrIssue(
      pair(existing.get(names.apiServerCertificateSecret), 'apiserver.crt', 'apiserver.key'),
      ca,
      leaf({
        commonName: 'kube-apiserver',
        subjectAltNames: apiServerSubjectAltNames(context),
        usages: ['serverAuth'],
      }),
      options,
    ),
    keepOrIssue(
      pair(
        existing.get(names.kubeletClientCertificateSecret),
        'apiserver-kubelet-client.crt',
        'apiserver-kubelet-client.key',
      ),
      ca,
      leaf({
        commonName: 'kube-apiserver-kubelet-client',
        organizations: ['kubeadm:cluster-admins'],
        usages: ['clientAuth'],
      }),
      options,
    ),
    keepOrIssue(
      pair(existing.get(names.frontProxyClientCertificateSecret), 'front-proxy-client.crt', 'front-proxy-client.key'),
      frontProxyCa,
      leaf({ commonName: 'front-proxy-client', usages: ['clientAuth'] }),
      options,
    ),
  ]);

  return [
    {
      name: names.caSecret,
      component: 'ca',
      // tls.crt/tls.key are what Cluster API reads.
      data: {
        'ca.crt': ca.certificatePem,
        'ca.key': ca.privateKeyPem,
        'tls.crt': ca.certificatePem,
        'tls.key': ca.privateKeyPem,
      },
    },
    {
      name: names.frontProxyCaSecret,
      component: 'front-proxy-ca',
      data: { 'front-proxy-ca.crt': frontProxyCa.certificatePem, 'front-proxy-ca.key': frontProxyCa.privateKeyPem },
    },
    {
      name: names.serviceAccountSecret,
      component: 'sa-certificate',
      data: { 'sa.pub': serviceAccount.publicKeyPem, 'sa.key': serviceAccount.privateKeyPem },
    },
    {
      name: names.apiServerCertificateSecret,
      component: 'api-server-certificate',
      data: { 'apiserver.crt': apiServer.certificatePem, 'apiserver.key': apiServer.privateKeyPem },
    },
    {
      name: names.kubeletClientCertificateSecret,
      component: 'api-server-kubelet-client-certificate',
      data: {
        'apiserver-kubelet-client.crt': kubeletClient.certificatePem,
        'apiserver-kubelet-client.key': kubeletClient.privateKeyPem,
      },
    },
    {
      name: names.frontProxyClientCertificateSecret,
      component: 'front-proxy-client-certificate',
      data: {
        'front-proxy-client.crt': frontProxyClient.certificatePem,
        'front-proxy-client.key': frontProxyClient.privateKeyPem,
      },
    },
  ];
}
