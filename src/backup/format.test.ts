import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gunzipSync, gzipSync } from 'node:zlib';
import { backupMetadata } from '../../test/support/backup.ts';
import { BACKUP_FORMAT_VERSION, BackupFileError, decodeBackup, decodeBackupHeader, encodeBackup } from './format.ts';

const metadata = backupMetadata();

const entries = [
  { key: 'namespaces/default', value: Buffer.from('k8s\0binary protobuf \xff', 'latin1') },
  { key: 'configmaps/default/ünïcode', value: Buffer.from('{"data":{}}') },
  { key: 'secrets/kube-system/empty', value: Buffer.alloc(0) },
  { key: 'events/default/demo.1', value: Buffer.from('event'), ttlSeconds: 3_412 },
];

/** The uncompressed content of a backup, edited by `change`, compressed again. */
function rewritten(bytes: Buffer, change: (plain: Buffer) => Buffer): Buffer {
  return gzipSync(change(gunzipSync(bytes)));
}

function refusal(bytes: Buffer, pattern: RegExp): void {
  assert.throws(
    () => decodeBackup(bytes, 'demo.kamaji-backup'),
    (error: Error) => error instanceof BackupFileError && pattern.test(error.message),
  );
}

test('round trip: every key, value and lease TTL comes back byte for byte, with the header', () => {
  const { header, bytes } = encodeBackup(metadata, entries);
  assert.equal(header.format, BACKUP_FORMAT_VERSION);
  assert.equal(header.objectCount, 4);
  assert.match(header.bodySha256, /^[0-9a-f]{64}$/);
  const decoded = decodeBackup(bytes, 'demo.kamaji-backup');
  assert.deepEqual(decoded.header, header);
  assert.deepEqual(decoded.entries, entries);
  assert.deepEqual(decodeBackupHeader(bytes, 'x'), header);
});

test('an empty key space is a valid backup of zero keys', () => {
  const { bytes } = encodeBackup(metadata, []);
  const decoded = decodeBackup(bytes, 'empty');
  assert.equal(decoded.header.objectCount, 0);
  assert.deepEqual(decoded.entries, []);
});

test('a truncated file is refused as truncated, at any length', () => {
  const { bytes } = encodeBackup(metadata, entries);
  for (const length of [bytes.length - 1, bytes.length - 9, Math.floor(bytes.length / 2), 11]) {
    refusal(bytes.subarray(0, length), /demo\.kamaji-backup: the file is truncated.*intact copy/);
  }
  // Cut inside the body but gzip intact: the header's length says so.
  const cut = rewritten(bytes, (plain) => plain.subarray(0, plain.length - 5));
  refusal(cut, /the body has \d+ bytes, the header says \d+: the file is truncated/);
});

test('a changed byte in the body is refused by the checksum; a damaged gzip stream by gzip', () => {
  const { bytes } = encodeBackup(metadata, entries);
  const flipped = rewritten(bytes, (plain) => {
    const copy = Buffer.from(plain);
    copy[copy.length - 3] = (copy[copy.length - 3] ?? 0) ^ 0x01;
    return copy;
  });
  refusal(flipped, /does not match its SHA-256: the file is corrupted/);
  const damaged = Buffer.from(bytes);
  damaged[damaged.length - 6] = (damaged[damaged.length - 6] ?? 0) ^ 0xff; // gzip's CRC-32
  refusal(damaged, /the file is corrupted/);
});

test('not a backup, another format version, a broken header: each named', () => {
  refusal(Buffer.from('plain text'), /not a Kamaji backup \(not gzip data\)/);
  refusal(gzipSync(Buffer.from('hello\n{}\n')), /not a Kamaji backup \(it does not start with/);
  const { bytes } = encodeBackup(metadata, entries);
  refusal(
    rewritten(bytes, (plain) => Buffer.from(plain.toString('latin1').replace('BACKUP 1', 'BACKUP 2'), 'latin1')),
    /format 2 is not readable by this kamaji \(it reads format 1\)/,
  );
  refusal(
    rewritten(bytes, (plain) => Buffer.from(plain.toString('latin1').replace('"schema"', '"schemata"'), 'latin1')),
    /the header lacks schema/,
  );
  refusal(gzipSync(Buffer.from('KAMAJI-TENANT-BACKUP 1\n{"tenant":')), /the header line is incomplete/);
});

test('a header whose count disagrees with the body is refused', () => {
  const { bytes } = encodeBackup(metadata, entries);
  const miscounted = rewritten(bytes, (plain) =>
    Buffer.from(plain.toString('latin1').replace('"objectCount":4', '"objectCount":5'), 'latin1'),
  );
  refusal(miscounted, /the body holds 4 keys, the header says 5/);
});
