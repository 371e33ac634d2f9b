import { createPrivateKey, X509Certificate as NodeX509Certificate, webcrypto } from 'node:crypto';
import { isIP } from 'node:net';
// @peculiar/x509 resolves its ASN.1 codecs through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';

/**
 * Key algorithms every Kubernetes component accepts. ECDSA P-256 is the default: key generation takes well under a
 * millisecond where RSA-2048 takes tens, which matters when hundreds of tenants are certified at once.
 */
export type KeyAlgorithm = 'ECDSA-P256' | 'RSA-2048';
export const DEFAULT_KEY_ALGORITHM: KeyAlgorithm = 'ECDSA-P256';

/** A certificate and its private key, both PEM. */
export interface CertificateAndKey {
  certificatePem: string;
  privateKeyPem: string;
}

export type KeyUsage = 'serverAuth' | 'clientAuth';

export interface CertificateRequest {
  commonName: string;
  organizations?: readonly string[];
  /** DNS names and IP addresses, told apart by their form. */
  subjectAltNames?: readonly string[];
  usages: readonly KeyUsage[];
  validityDays: number;
  keyAlgorithm?: KeyAlgorithm;
  /** Defaults to now; tests set it to check renewal. */
  notBefore?: Date;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

const subtle = webcrypto.subtle;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHMS: Record<
  KeyAlgorithm,
  { generate: webcrypto.EcKeyGenParams | webcrypto.RsaHashedKeyGenParams; sign: webcrypto.Algorithm }
> = {
  'ECDSA-P256': {
    generate: { name: 'ECDSA', namedCurve: 'P-256' },
    sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams,
  },
  'RSA-2048': {
    generate: {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: 2048,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    sign: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past so that clocks slightly behind still accept them. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

async function generateKeyPair(algorithm: KeyAlgorithm): Promise<CryptoKeyPair> {
  return (await subtle.generateKey(ALGORITHMS[algorithm].generate, true, ['sign', 'verify'])) as CryptoKeyPair;
}

async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const der = await subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

function algorithmOfKey(pem: string): KeyAlgorithm {
  const key = createPrivateKey(pem);
  if (key.asymmetricKeyType === 'ec') return 'ECDSA-P256';
  if (key.asymmetricKeyType === 'rsa') return 'RSA-2048';
  throw new Error(`unsupported private key type ${key.asymmetricKeyType ?? 'unknown'}: use an ECDSA P-256 or RSA key`);
}

async function importSigningKey(pem: string): Promise<{ key: CryptoKey; algorithm: KeyAlgorithm }> {
  const algorithm = algorithmOfKey(pem);
  const der = createPrivateKey(pem).export({ type: 'pkcs8', format: 'der' });
  const key = await subtle.importKey('pkcs8', der, ALGORITHMS[algorithm].generate, false, ['sign']);
  return { key, algorithm };
}

function nameOf(commonName: string, organizations: readonly string[] = []): x509.JsonName {
  const name: x509.JsonName = [];
  for (const organization of organizations) name.push({ O: [organization] });
  name.push({ CN: [commonName] });
  return name;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f; // keep the serial positive
  return Buffer.from(bytes).toString('hex');
}

function subjectAltNameExtension(names: readonly string[]): x509.SubjectAlternativeNameExtension {
  const unique = [...new Set(names.filter((name) => name.length > 0))];
  return new x509.SubjectAlternativeNameExtension(
    unique.map((name) => (isIP(name) ? { type: 'ip', value: name } : { type: 'dns', value: name })),
  );
}

/** A self-signed certificate authority. */
export async function createCertificateAuthority(
  commonName: string,
  options: { validityDays: number; keyAlgorithm?: KeyAlgorithm; notBefore?: Date },
): Promise<CertificateAndKey> {
  const algorithm = options.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM;
  const keys = await generateKeyPair(algorithm);
  const notBefore = new Date((options.notBefore ?? new Date()).getTime() - CLOCK_SKEW_MS);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: nameOf(commonName),
    notBefore,
    notAfter: new Date(notBefore.getTime() + options.validityDays * DAY_MS),
    keys,
    signingAlgorithm: ALGORITHMS[algorithm].sign,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificatePem: certificate.toString('pem'), privateKeyPem: await privateKeyToPem(keys.privateKey) };
}

/** A leaf certificate signed by `ca`. */
export async function issueCertificate(ca: CertificateAndKey, request: CertificateRequest): Promise<CertificateAndKey> {
  const algorithm = request.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM;
  const [keys, signer] = await Promise.all([generateKeyPair(algorithm), importSigningKey(ca.privateKeyPem)]);
  const caCertificate = new x509.X509Certificate(ca.certificatePem);
  const notBefore = new Date((request.notBefore ?? new Date()).getTime() - CLOCK_SKEW_MS);
  const keyUsage =
    x509.KeyUsageFlags.digitalSignature | (algorithm === 'RSA-2048' ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(keyUsage, true),
    new x509.ExtendedKeyUsageExtension(request.usages.map((usage) => x509.ExtendedKeyUsage[usage])),
    await x509.AuthorityKeyIdentifierExtension.create(caCertificate, false),
  ];
  if (request.subjectAltNames && request.subjectAltNames.length > 0) {
    extensions.push(subjectAltNameExtension(request.subjectAltNames));
  }
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: nameOf(request.commonName, request.organizations),
    issuer: caCertificate.subjectName,
    notBefore,
    notAfter: new Date(notBefore.getTime() + request.validityDays * DAY_MS),
    publicKey: keys.publicKey,
    signingKey: signer.key,
    signingAlgorithm: ALGORITHMS[signer.algorithm].sign,
    extensions,
  });
  return { certificatePem: certificate.toString('pem'), privateKeyPem: await privateKeyToPem(keys.privateKey) };
}

/** A bare key pair (PEM), e.g. for signing service-account tokens. */
export async function createKeyPair(
  keyAlgorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM,
): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const keys = await generateKeyPair(keyAlgorithm);
  const spki = await subtle.exportKey('spki', keys.publicKey);
  return {
    privateKeyPem: await privateKeyToPem(keys.privateKey),
    publicKeyPem: x509.PemConverter.encode(spki, 'PUBLIC KEY'),
  };
}

/** Whether a certificate expires within `withinDays` of `now` (or is not valid yet or not parseable). */
export function needsRenewal(certificatePem: string, withinDays: number, now = new Date()): boolean {
  try {
    const certificate = new NodeX509Certificate(certificatePem);
    const validTo = new Date(certificate.validTo).getTime();
    const validFrom = new Date(certificate.validFrom).getTime();
    return validFrom > now.getTime() || validTo - now.getTime() < withinDays * DAY_MS;
  } catch {
    return true;
  }
}
