import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Backup, BackupFileError, type BackupHeader, decodeBackup, decodeBackupHeader } from './format.ts';

/** Backup files on disk: written whole or not at all, readable by their owner only (they hold the tenant's Secrets). */

const FILE_MODE = 0o600;
export const BACKUP_EXTENSION = '.kamaji-backup';

/**
 * Writes through a temporary name in the same directory (created when missing) and renames: a crash never leaves a
 * partial file named FILE.
 */
export async function writeBackupFile(path: string, bytes: Buffer): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const partial = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.partial`);
  try {
    await writeFile(partial, bytes, { mode: FILE_MODE, flush: true });
    await rename(partial, path);
  } finally {
    await rm(partial, { force: true });
  }
}

async function readBytes(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new BackupFileError(`${path}: cannot be read (${(error as Error).message}): check the path`);
  }
}

export async function readBackupFile(path: string): Promise<Backup> {
  return decodeBackup(await readBytes(path), path);
}

export async function readBackupFileHeader(path: string): Promise<BackupHeader> {
  return decodeBackupHeader(await readBytes(path), path);
}

/** `<namespace>_<name>_<UTC time>.kamaji-backup`: `_` is in no Kubernetes name, and the names sort by time. */
export function backupFileName(namespace: string, name: string, at: Date): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${namespace}_${name}_${stamp}${BACKUP_EXTENSION}`;
}

/** Of a directory's file names, this tenant's backups beyond the newest `keep`, oldest first. */
export function backupsBeyond(fileNames: readonly string[], namespace: string, name: string, keep: number): string[] {
  const prefix = `${namespace}_${name}_`;
  const own = fileNames.filter((file) => file.startsWith(prefix) && file.endsWith(BACKUP_EXTENSION)).sort();
  return own.slice(0, Math.max(0, own.length - keep));
}

/** FILE as given, or a new time-stamped name when it is a directory (an existing one, or a path ending in `/`). */
export async function backupPath(output: string, namespace: string, name: string, at: Date): Promise<string> {
  const isDirectory = output.endsWith('/') || (await stat(output).catch(() => undefined))?.isDirectory() === true;
  return isDirectory ? join(output, backupFileName(namespace, name, at)) : output;
}

/** Deletes this tenant's backups in `directory` beyond the newest `keep`; the names deleted. */
export async function pruneBackups(directory: string, namespace: string, name: string, keep: number) {
  const doomed = backupsBeyond(await readdir(directory), namespace, name, keep);
  for (const file of doomed) await rm(join(directory, file), { force: true });
  return doomed;
}
