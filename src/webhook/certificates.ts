/**
 * The webhook server's own PKI: a CA and a serving certificate kept in one Secret that every replica reads (the
 * first to find it missing creates it; a replica that loses the race reads the winner's), renewed well before
 * expiry, and the CA written into the `caBundle` of each webhook of the configurations.
 */
import { X509Certificate } from 'node:crypto';
import type {
  V1MutatingWebhookConfiguration,
  V1Secret,
  V1ValidatingWebhookConfiguration,
} from '@kubernetes/client-node';
import { type ApiCaller, readObject } from '../controller/apply.ts';
import { builtinResources, hasStatus, type ResourceType, resourcePath } from '../controller/kube-client.ts';
import { decodeSecretData } from '../controller/secret-data.ts';
import {
  type CertificateAndKey,
  createCertificateAuthority,
  issueCertificate,
  type KeyAlgorithm,
  needsRenewal,
} from '../pki/certificates.ts';

export const webhookConfigurationResources = {
  validating: {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'ValidatingWebhookConfiguration',
    plural: 'validatingwebhookconfigurations',
    namespaced: false,
  },
  mutating: {
    apiVersion: 'admissionregistration.k8s.io/v1',
    kind: 'MutatingWebhookConfiguration',
    plural: 'mutatingwebhookconfigurations',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceType>;

export type WebhookConfiguration = V1ValidatingWebhookConfiguration | V1MutatingWebhookConfiguration;

/** The Secret's keys: those cert-manager writes, plus the CA key the operator needs to renew the serving cert. */
export const SECRET_KEYS = { ca: 'ca.crt', caKey: 'ca.key', certificate: 'tls.crt', key: 'tls.key' } as const;

export const VALIDITY_DAYS = { ca: 3650, serving: 365 } as const;
/** Renewed this long before expiry: every replica's periodic check (hourly at most) has weeks to notice. */
export const RENEW_WITHIN_DAYS = { ca: 180, serving: 30 } as const;

export interface WebhookCertificates {
  /** PEM of the CA (the current one first; the previous one too while a rotation is recent), for caBundle. */
  caBundlePem: string;
  ca: CertificateAndKey;
  serving: CertificateAndKey;
}

/** `<name>.<namespace>.svc` and `<name>.<namespace>.svc.cluster.local`, the names the API server dials. */
export function serviceNames(service: { namespace: string; name: string }): string[] {
  return [`${service.name}.${service.namespace}.svc`, `${service.name}.${service.namespace}.svc.cluster.local`];
}

/** The certificates stored in a Secret's data, or undefined when a key is missing. */
export function certificatesFrom(data: Record<string, string> | undefined): WebhookCertificates | undefined {
  const get = (key: string) => data?.[key] || undefined;
  const [bundle, caKey, certificate, key] = [
    get(SECRET_KEYS.ca),
    get(SECRET_KEYS.caKey),
    get(SECRET_KEYS.certificate),
    get(SECRET_KEYS.key),
  ];
  if (!bundle || !caKey || !certificate || !key) return undefined;
  const caCertificate = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/.exec(bundle)?.[0] ?? '';
  return {
    caBundlePem: bundle,
    ca: { certificatePem: caCertificate, privateKeyPem: caKey },
    serving: { certificatePem: certificate, privateKeyPem: key },
  };
}

function subjectAltNames(certificatePem: string): string[] {
  const text = new X509Certificate(certificatePem).subjectAltName ?? '';
  return text
    .split(', ')
    .map((entry) => entry.replace(/^(DNS|IP Address):/, ''))
    .filter(Boolean);
}

/**
 * What must be issued anew: `ca` (a new CA and serving certificate) when something is missing or the CA nears
 * expiry; `serving` when the serving certificate nears expiry, misses one of `names`, or was not signed by the
 * CA; nothing when all holds.
 */
export function renewalNeeded(
  current: WebhookCertificates | undefined,
  names: readonly string[],
  now = new Date(),
): 'ca' | 'serving' | undefined {
  if (!current) return 'ca';
  try {
    if (needsRenewal(current.ca.certificatePem, RENEW_WITHIN_DAYS.ca, now)) return 'ca';
    if (needsRenewal(current.serving.certificatePem, RENEW_WITHIN_DAYS.serving, now)) return 'serving';
    const ca = new X509Certificate(current.ca.certificatePem);
    if (!new X509Certificate(current.serving.certificatePem).verify(ca.publicKey)) return 'serving';
    const covered = new Set(subjectAltNames(current.serving.certificatePem));
    return names.every((name) => covered.has(name)) ? undefined : 'serving';
  } catch {
    return 'ca';
  }
}

/** Issues what `renewalNeeded` asked for, keeping the CA (and, after a CA rotation, trusting the old one a while). */
export async function issueCertificates(
  current: WebhookCertificates | undefined,
  what: 'ca' | 'serving',
  names: readonly string[],
  options: { keyAlgorithm: KeyAlgorithm; now?: Date },
): Promise<WebhookCertificates> {
  const keyAlgorithm = options.keyAlgorithm;
  const ca =
    what === 'ca' || !current
      ? await createCertificateAuthority('kamaji-webhook-ca', { validityDays: VALIDITY_DAYS.ca, keyAlgorithm })
      : current.ca;
  const serving = await issueCertificate(ca, {
    commonName: names[0] ?? 'kamaji-webhook',
    subjectAltNames: names,
    usages: ['serverAuth'],
    validityDays: VALIDITY_DAYS.serving,
    keyAlgorithm,
  });
  // Replicas still serving the old certificate stay trusted until they reload theirs from the Secret.
  const previous = current && ca !== current.ca && !needsRenewal(current.ca.certificatePem, 0, options.now);
  const caBundlePem = previous ? `${ca.certificatePem}${current.ca.certificatePem}` : ca.certificatePem;
  return { caBundlePem, ca, serving };
}

function secretData(certificates: WebhookCertificates): Record<string, string> {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  return {
    [SECRET_KEYS.ca]: base64(certificates.caBundlePem),
    [SECRET_KEYS.caKey]: base64(certificates.ca.privateKeyPem),
    [SECRET_KEYS.certificate]: base64(certificates.serving.certificatePem),
    [SECRET_KEYS.key]: base64(certificates.serving.privateKeyPem),
  };
}

const MAX_ATTEMPTS = 5;

/**
 * The certificates in the Secret, created or renewed first when needed. Writes are compare-and-swap (create
 * fails if it exists, replace carries the resourceVersion read), so replicas racing at start or renewal all end
 * with the one that won: a loser's 409 makes it read again.
 */
export async function ensureCertificateSecret(
  client: ApiCaller,
  location: { namespace: string; name: string },
  names: readonly string[],
  options: { keyAlgorithm: KeyAlgorithm; now?: Date },
): Promise<{ certificates: WebhookCertificates; issued: boolean }> {
  for (let attempt = 1; ; attempt++) {
    const secret = await readObject<V1Secret>(client, builtinResources.secret, location);
    const current = certificatesFrom(secret && decodeSecretData(secret));
    const what = renewalNeeded(current, names, options.now);
    if (current && !what) return { certificates: current, issued: false };
    const certificates = await issueCertificates(current, what ?? 'ca', names, options);
    const body: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: 'kubernetes.io/tls',
      metadata: {
        name: location.name,
        namespace: location.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'kamaji' },
        ...(secret ? { resourceVersion: secret.metadata?.resourceVersion } : {}),
      },
      data: secretData(certificates),
    };
    try {
      if (secret) {
        await client.request('PUT', resourcePath(builtinResources.secret, location), { body });
      } else {
        await client.request('POST', resourcePath(builtinResources.secret, { namespace: location.namespace }), {
          body,
        });
      }
      return { certificates, issued: true };
    } catch (error) {
      if (!hasStatus(error, 409) || attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

/**
 * Writes the CA bundle into every webhook of the configuration whose caBundle differs; returns how many were
 * written. Each change is guarded by a test of the webhook's name at that index, so a configuration reordered
 * meanwhile makes the patch fail (and the next pass retry) instead of writing into the wrong webhook.
 */
export async function injectCaBundle(
  client: ApiCaller,
  type: ResourceType,
  configuration: WebhookConfiguration,
  caBundlePem: string,
): Promise<number> {
  const caBundle = Buffer.from(caBundlePem).toString('base64');
  const patch = (configuration.webhooks ?? []).flatMap((webhook, index) =>
    webhook.clientConfig.caBundle === caBundle
      ? []
      : [
          { op: 'test', path: `/webhooks/${index}/name`, value: webhook.name },
          { op: 'add', path: `/webhooks/${index}/clientConfig/caBundle`, value: caBundle },
        ],
  );
  if (patch.length === 0) return 0;
  await client.request('PATCH', resourcePath(type, { name: configuration.metadata?.name }), {
    body: patch,
    contentType: 'application/json-patch+json',
  });
  return patch.length / 2;
}
