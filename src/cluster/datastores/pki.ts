import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type CertificateAndKey, createCertificateAuthority, issueCertificate } from '../../pki/certificates.ts';

const CA_DAYS = 3650;
const LEAF_DAYS = 365;

/** A JSON value created on first use and kept (root only): a server's data depends on its certificates and users. */
export async function storedOnce<T>(file: string, create: () => Promise<T>): Promise<T> {
  const stored = await readFile(file, 'utf8').catch(() => undefined);
  if (stored) return JSON.parse(stored) as T;
  const value = await create();
  await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(`${file}.tmp`, JSON.stringify(value), { mode: 0o600 });
  await rename(`${file}.tmp`, file);
  return value;
}

export interface ServerPki {
  ca: CertificateAndKey;
  /** For the node address, 127.0.0.1 and localhost. */
  server: CertificateAndKey;
  /** Client certificates by common name. */
  clients: Record<string, CertificateAndKey>;
}

/** A datastore's CA, server certificate and client certificates, kept in `<dir>/pki.json`. */
export function serverPki(
  dir: string,
  name: string,
  address: string,
  clientNames: readonly string[] = [],
): Promise<ServerPki> {
  return storedOnce(join(dir, 'pki.json'), async () => {
    const ca = await createCertificateAuthority(`kamaji-datastore-${name}-ca`, { validityDays: CA_DAYS });
    const server = await issueCertificate(ca, {
      commonName: `kamaji-datastore-${name}`,
      subjectAltNames: [address, '127.0.0.1', 'localhost'],
      usages: ['serverAuth', 'clientAuth'],
      validityDays: LEAF_DAYS,
    });
    const clients: Record<string, CertificateAndKey> = {};
    for (const commonName of clientNames) {
      clients[commonName] = await issueCertificate(ca, {
        commonName,
        usages: ['clientAuth'],
        validityDays: LEAF_DAYS,
      });
    }
    return { ca, server, clients };
  });
}
