import { createHash } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { TenantControlPlaneSpec } from '../api/v1alpha1/tenant-control-plane.ts';
import type { KeyValue } from '../datastore/keyspace/keyspace.ts';

/**
 * The backup file of one tenant: gzip of
 *
 *     KAMAJI-TENANT-BACKUP 1\n          the magic line and the format version
 *     {header JSON}\n                   one line (BackupHeader)
 *     body                              per key: u32 BE key length, key (UTF-8), u32 BE lease TTL in seconds
 *                                       (0: no lease), u32 BE value length, value
 *
 * Keys are relative to the tenant's prefix (`namespaces/default`), so a restore puts them under any schema.
 * The header carries the body's length, key count and SHA-256: gzip's CRC catches a damaged file, these catch a
 * truncated or altered body and a writer's bug (not a forger, who can rewrite the header as well: the file is not
 * signed). Pure: no I/O here (file.ts reads and writes).
 */

export const BACKUP_MAGIC = 'KAMAJI-TENANT-BACKUP';
export const BACKUP_FORMAT_VERSION = 1;

/** One key of the tenant's key space and its value, as the keyspace module reads and writes them. */
export type BackupEntry = KeyValue;

export interface BackupHeader {
  format: typeof BACKUP_FORMAT_VERSION;
  /** ISO 8601, when the snapshot was taken. */
  createdAt: string;
  tenant: { namespace: string; name: string; uid: string };
  /** The tenant's Kubernetes version (`vX.Y.Z`) at backup time: the objects are stored as that API server wrote them. */
  kubernetesVersion: string;
  dataStore: { name: string; driver: string };
  schema: string;
  /** The source datastore's revision the snapshot was read at. */
  revision: number;
  /** Keys in the body. */
  objectCount: number;
  bodyBytes: number;
  bodySha256: string;
  /** The TenantControlPlane's spec at backup time: what a restore creates the new tenant from. */
  spec: TenantControlPlaneSpec;
}

/** The header's fields a caller gives; the body's size, count and checksum are computed. */
export type BackupMetadata = Omit<BackupHeader, 'format' | 'objectCount' | 'bodyBytes' | 'bodySha256'>;

export interface Backup {
  header: BackupHeader;
  entries: BackupEntry[];
}

/** A file that is not a readable backup: the message names the file, what is wrong and what to do. */
export class BackupFileError extends Error {}

const LENGTH_BYTES = 4;
const MAX_LENGTH = 0xffff_ffff;

/** The gzip-compressed file content for these entries, and the header written into it. */
export function encodeBackup(
  metadata: BackupMetadata,
  entries: readonly BackupEntry[],
): { header: BackupHeader; bytes: Buffer } {
  const body = encodeBody(entries);
  const header: BackupHeader = {
    format: BACKUP_FORMAT_VERSION,
    ...metadata,
    objectCount: entries.length,
    bodyBytes: body.length,
    bodySha256: sha256(body),
  };
  const head = Buffer.from(`${BACKUP_MAGIC} ${BACKUP_FORMAT_VERSION}\n${JSON.stringify(header)}\n`, 'utf8');
  return { header, bytes: gzipSync(Buffer.concat([head, body])) };
}

function encodeBody(entries: readonly BackupEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const { key, value, ttlSeconds } of entries) {
    const keyBytes = Buffer.from(key, 'utf8');
    if (value.length > MAX_LENGTH) throw new Error(`key ${key}: its value is over 4 GiB, which the format cannot hold`);
    parts.push(lengthPrefix(keyBytes.length), keyBytes, lengthPrefix(ttlSeconds ?? 0));
    parts.push(lengthPrefix(value.length), value);
  }
  return Buffer.concat(parts);
}

function lengthPrefix(length: number): Buffer {
  const prefix = Buffer.alloc(LENGTH_BYTES);
  prefix.writeUInt32BE(length);
  return prefix;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The header and entries of a backup file's content, every check passed: gzip intact, the magic line, a format
 * this code reads, a complete header, and a body of exactly the recorded length, checksum and key count.
 * `source` (the file name) goes into the messages.
 */
export function decodeBackup(bytes: Buffer, source: string): Backup {
  const { header, body } = splitBackup(bytes, source);
  const refuse = (problem: string) => new BackupFileError(`${source}: ${problem}; ${DAMAGED_FIX}`);
  if (body.length !== header.bodyBytes) {
    throw refuse(
      `the body has ${body.length} bytes, the header says ${header.bodyBytes}: the file is ${body.length < header.bodyBytes ? 'truncated' : 'corrupted'}`,
    );
  }
  if (sha256(body) !== header.bodySha256) throw refuse('the body does not match its SHA-256: the file is corrupted');
  const entries = decodeBody(body, refuse);
  if (entries.length !== header.objectCount) {
    throw refuse(`the body holds ${entries.length} keys, the header says ${header.objectCount}`);
  }
  return { header, entries };
}

const DAMAGED_FIX = 'use an intact copy of the backup or take a new one';

/** The checked header and the raw body, without reading the entries. */
function splitBackup(bytes: Buffer, source: string): { header: BackupHeader; body: Buffer } {
  let plain: Buffer;
  try {
    plain = gunzipSync(bytes);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const problem =
      code === 'Z_BUF_ERROR'
        ? 'the file is truncated (gzip data ends early)'
        : code === 'Z_DATA_ERROR' && bytes.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))
          ? `the file is corrupted (${(error as Error).message})`
          : 'not a Kamaji backup (not gzip data)';
    throw new BackupFileError(`${source}: ${problem}; ${DAMAGED_FIX}`);
  }
  const magicEnd = plain.indexOf(0x0a);
  const magic = plain.subarray(0, magicEnd === -1 ? 0 : magicEnd).toString('utf8');
  const [word, version] = magic.split(' ');
  if (word !== BACKUP_MAGIC) {
    throw new BackupFileError(`${source}: not a Kamaji backup (it does not start with "${BACKUP_MAGIC}")`);
  }
  if (version !== String(BACKUP_FORMAT_VERSION)) {
    throw new BackupFileError(
      `${source}: backup format ${version} is not readable by this kamaji (it reads format ${BACKUP_FORMAT_VERSION}): use the kamaji version that wrote it`,
    );
  }
  const headerEnd = plain.indexOf(0x0a, magicEnd + 1);
  if (headerEnd === -1) throw new BackupFileError(`${source}: the header line is incomplete; ${DAMAGED_FIX}`);
  const header = parseHeader(plain.subarray(magicEnd + 1, headerEnd).toString('utf8'), source);
  return { header, body: plain.subarray(headerEnd + 1) };
}

/** Only the header (the checks of the body are skipped): what `backup inspect` shows before a restore. */
export function decodeBackupHeader(bytes: Buffer, source: string): BackupHeader {
  return splitBackup(bytes, source).header;
}

function parseHeader(text: string, source: string): BackupHeader {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new BackupFileError(`${source}: the header is not valid JSON; ${DAMAGED_FIX}`);
  }
  const header = value as Partial<BackupHeader> | null;
  const missing = [
    typeof header?.tenant?.name !== 'string' && 'tenant.name',
    typeof header?.tenant?.namespace !== 'string' && 'tenant.namespace',
    typeof header?.schema !== 'string' && 'schema',
    typeof header?.revision !== 'number' && 'revision',
    typeof header?.objectCount !== 'number' && 'objectCount',
    typeof header?.bodyBytes !== 'number' && 'bodyBytes',
    typeof header?.bodySha256 !== 'string' && 'bodySha256',
    typeof header?.dataStore?.driver !== 'string' && 'dataStore.driver',
    typeof header?.spec !== 'object' && 'spec',
  ].filter((field): field is string => typeof field === 'string');
  if (missing.length > 0) {
    throw new BackupFileError(`${source}: the header lacks ${missing.join(', ')}; ${DAMAGED_FIX}`);
  }
  return header as BackupHeader;
}

function decodeBody(body: Buffer, refuse: (problem: string) => BackupFileError): BackupEntry[] {
  const entries: BackupEntry[] = [];
  let offset = 0;
  const number = (what: string): number => {
    if (offset + LENGTH_BYTES > body.length) throw refuse(`key ${entries.length + 1}: the ${what} is cut off`);
    offset += LENGTH_BYTES;
    return body.readUInt32BE(offset - LENGTH_BYTES);
  };
  const bytes = (what: string): Buffer => {
    const length = number(`${what} length`);
    if (offset + length > body.length) throw refuse(`key ${entries.length + 1}: the ${what} runs past the body`);
    offset += length;
    return body.subarray(offset - length, offset);
  };
  while (offset < body.length) {
    const key = bytes('key').toString('utf8');
    const ttlSeconds = number('lease TTL');
    const value = Buffer.from(bytes('value'));
    entries.push(ttlSeconds > 0 ? { key, value, ttlSeconds } : { key, value });
  }
  return entries;
}
