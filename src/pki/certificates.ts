import {
  createHash,
  createPrivateKey,
  generateKeyPair,
  generateKeyPairSync,
  type KeyObject,
  X509Certificate as NodeX509Certificate,
  randomBytes,
  sign,
} from 'node:crypto';
import { isIP } from 'node:net';
import { promisify } from 'node:util';
import { parseIp } from '../util/ip.ts';
import {
  bitString,
  boolean,
  children,
  contextTag,
  namedBits,
  nullValue,
  objectIdentifier,
  octetString,
  readElement,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from './der.ts';

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

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extendedKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
} as const;

/** Key usage bits (RFC 5280 4.2.1.3). */
const KEY_USAGE = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past so that clocks slightly behind still accept them. */
const CLOCK_SKEW_MS = 5 * 60 * 1000;

const generate = promisify(generateKeyPair);

/**
 * RSA keys are generated off the event loop (tens of milliseconds each); a P-256 key takes microseconds, less than
 * handing the job to the thread pool costs.
 */
async function generateKeys(algorithm: KeyAlgorithm): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return algorithm === 'ECDSA-P256'
    ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 });
}

function signatureAlgorithm(key: KeyObject): Buffer {
  return key.asymmetricKeyType === 'ec'
    ? sequence(objectIdentifier(OID.ecdsaWithSha256))
    : sequence(objectIdentifier(OID.sha256WithRsa), nullValue());
}

function name(commonName: string, organizations: readonly string[] = []): Buffer {
  const attribute = (oid: string, value: string) => set(sequence(objectIdentifier(oid), utf8String(value)));
  return sequence(
    ...organizations.map((organization) => attribute(OID.organization, organization)),
    attribute(OID.commonName, commonName),
  );
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** RFC 5280's first method: the SHA-1 of the subjectPublicKey bits of a SubjectPublicKeyInfo. */
function keyIdentifier(spki: Buffer): Buffer {
  const info = readElement(spki, 0);
  const publicKey = children(spki, info)[1];
  if (!publicKey) throw new Error('malformed SubjectPublicKeyInfo');
  return createHash('sha1')
    .update(spki.subarray(publicKey.contentStart + 1, publicKey.end))
    .digest();
}

function subjectAltNames(names: readonly string[]): Buffer {
  const unique = [...new Set(names.filter((entry) => entry.length > 0))];
  return sequence(
    ...unique.map((entry) => {
      if (!isIP(entry)) return contextTag(2, Buffer.from(entry, 'ascii'), false);
      const ip = parseIp(entry);
      const width = ip?.family === 4 ? 4 : 16;
      const bytes = Buffer.alloc(width);
      let value = ip?.value ?? 0n;
      for (let index = width - 1; index >= 0; index -= 1) {
        bytes[index] = Number(value & 0xffn);
        value >>= 8n;
      }
      return contextTag(7, bytes, false);
    }),
  );
}

/** A positive 127-bit serial whose first byte is never zero, so its DER encoding has a fixed, minimal length. */
function randomSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes;
}

interface TbsFields {
  serial: Buffer;
  issuer: Buffer;
  subject: Buffer;
  notBefore: Date;
  validityDays: number;
  spki: Buffer;
  extensions: Buffer[];
  signer: KeyObject;
}

function signCertificate(fields: TbsFields): string {
  const algorithm = signatureAlgorithm(fields.signer);
  const tbs = sequence(
    contextTag(0, unsignedInteger(Buffer.from([2])), true),
    unsignedInteger(fields.serial),
    algorithm,
    fields.issuer,
    sequence(time(fields.notBefore), time(new Date(fields.notBefore.getTime() + fields.validityDays * DAY_MS))),
    fields.subject,
    fields.spki,
    contextTag(3, sequence(...fields.extensions), true),
  );
  const signature = sign('sha256', tbs, fields.signer);
  const der = sequence(tbs, algorithm, bitString(signature));
  const base64 = der.toString('base64').replace(/(.{64})/g, '$1\n');
  return `-----BEGIN CERTIFICATE-----\n${base64}${base64.endsWith('\n') ? '' : '\n'}-----END CERTIFICATE-----\n`;
}

function privateKeyPem(key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string;
}

function startOf(notBefore: Date | undefined): Date {
  // Whole seconds: X.509 times carry no fractions.
  return new Date(Math.floor(((notBefore ?? new Date()).getTime() - CLOCK_SKEW_MS) / 1000) * 1000);
}

/** A self-signed certificate authority. */
export async function createCertificateAuthority(
  commonName: string,
  options: { validityDays: number; keyAlgorithm?: KeyAlgorithm; notBefore?: Date },
): Promise<CertificateAndKey> {
  const keys = await generateKeys(options.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM);
  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
  const subject = name(commonName);
  const usage = [KEY_USAGE.digitalSignature, KEY_USAGE.keyCertSign, KEY_USAGE.cRLSign];
  const certificatePem = signCertificate({
    serial: randomSerial(),
    issuer: subject,
    subject,
    notBefore: startOf(options.notBefore),
    validityDays: options.validityDays,
    spki,
    extensions: [
      extension(OID.keyUsage, true, namedBits(usage)),
      extension(OID.basicConstraints, true, sequence(boolean(true))),
      extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
    ],
    signer: keys.privateKey,
  });
  return { certificatePem, privateKeyPem: privateKeyPem(keys.privateKey) };
}

/** The DER bytes of the first certificate in a PEM text. */
function pemToDer(pem: string): Buffer {
  const body = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (!body) throw new Error('not a PEM certificate');
  return Buffer.from(body.replace(/\s+/g, ''), 'base64');
}

/** What signing with a CA needs from it, read once per CA: its subject (the leaves' issuer), key id and key. */
interface Issuer {
  subject: Buffer;
  keyId: Buffer;
  key: KeyObject;
}

const issuers = new Map<string, Issuer>();
const ISSUER_CACHE_SIZE = 64;

function issuerOf(ca: CertificateAndKey): Issuer {
  const cacheKey = ca.certificatePem + ca.privateKeyPem;
  const cached = issuers.get(cacheKey);
  if (cached) return cached;
  const der = pemToDer(ca.certificatePem);
  const tbs = children(der, readElement(der, 0))[0];
  if (!tbs) throw new Error('malformed CA certificate');
  const fields = children(der, tbs);
  // [0] version, serial, signature algorithm, issuer, validity, subject, subjectPublicKeyInfo, ..., [3] extensions
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0;
  const subject = fields[offset + 4];
  const spki = fields[offset + 5];
  if (!subject || !spki) throw new Error('malformed CA certificate');
  const keyId = subjectKeyIdentifierOf(der, fields) ?? keyIdentifier(der.subarray(spki.start, spki.end));
  const issuer = { subject: der.subarray(subject.start, subject.end), keyId, key: createPrivateKey(ca.privateKeyPem) };
  if (issuers.size >= ISSUER_CACHE_SIZE) issuers.delete(issuers.keys().next().value ?? '');
  issuers.set(cacheKey, issuer);
  return issuer;
}

/** The CA's own subjectKeyIdentifier, which chain building matches against the leaves' authorityKeyIdentifier. */
function subjectKeyIdentifierOf(der: Buffer, tbsFields: ReturnType<typeof children>): Buffer | undefined {
  const extensions = tbsFields.find((field) => field.tag === 0xa3);
  const list = extensions && children(der, extensions)[0];
  if (!list) return undefined;
  const wanted = objectIdentifier(OID.subjectKeyIdentifier);
  for (const entry of children(der, list)) {
    const [oid, ...rest] = children(der, entry);
    if (!oid || !der.subarray(oid.start, oid.end).equals(wanted)) continue;
    const value = rest.at(-1);
    if (!value) return undefined;
    const inner = readElement(der, value.contentStart);
    return der.subarray(inner.contentStart, inner.end);
  }
  return undefined;
}

/** A leaf certificate signed by `ca`. */
export async function issueCertificate(ca: CertificateAndKey, request: CertificateRequest): Promise<CertificateAndKey> {
  const algorithm = request.keyAlgorithm ?? DEFAULT_KEY_ALGORITHM;
  const issuer = issuerOf(ca);
  const keys = await generateKeys(algorithm);
  const usage = [KEY_USAGE.digitalSignature, ...(algorithm === 'RSA-2048' ? [KEY_USAGE.keyEncipherment] : [])];
  const extensions = [
    extension(OID.keyUsage, true, namedBits(usage)),
    extension(OID.extendedKeyUsage, false, sequence(...request.usages.map((usage) => objectIdentifier(OID[usage])))),
    extension(OID.basicConstraints, true, sequence()),
    extension(OID.authorityKeyIdentifier, false, sequence(contextTag(0, issuer.keyId, false))),
  ];
  if (request.subjectAltNames && request.subjectAltNames.length > 0) {
    extensions.push(extension(OID.subjectAltName, false, subjectAltNames(request.subjectAltNames)));
  }
  const certificatePem = signCertificate({
    serial: randomSerial(),
    issuer: issuer.subject,
    subject: name(request.commonName, request.organizations),
    notBefore: startOf(request.notBefore),
    validityDays: request.validityDays,
    spki: keys.publicKey.export({ type: 'spki', format: 'der' }),
    extensions,
    signer: issuer.key,
  });
  return { certificatePem, privateKeyPem: privateKeyPem(keys.privateKey) };
}

/** A bare key pair (PEM), e.g. for signing service-account tokens. */
export async function createKeyPair(
  keyAlgorithm: KeyAlgorithm = DEFAULT_KEY_ALGORITHM,
): Promise<{ privateKeyPem: string; publicKeyPem: string }> {
  const keys = await generateKeys(keyAlgorithm);
  return {
    privateKeyPem: privateKeyPem(keys.privateKey),
    publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }) as string,
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
