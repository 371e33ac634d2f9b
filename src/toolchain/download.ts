import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream } from 'node:stream/web';
import { promisify } from 'node:util';
import type { ChecksumSource, ReleaseDownload } from './versions.ts';

const run = promisify(execFile);

/** The SHA-256 a published checksum file gives for `fileName`, or an error naming the file and its form. */
export function parseChecksumFile(content: string, source: ChecksumSource, downloadName: string): string {
  const lines = content
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0);
  const wanted = source.kind === 'list' ? source.fileName : downloadName;
  const line =
    source.kind === 'sidecar' && lines.length === 1
      ? lines[0]
      : lines.find((candidate) => candidate.split(/\s+/)[1]?.replace(/^\*/, '') === wanted);
  const digest = line?.split(/\s+/)[0]?.toLowerCase();
  if (!digest || !/^[0-9a-f]{64}$/.test(digest)) {
    throw new Error(`checksum file ${source.url} has no SHA-256 for ${wanted}`);
  }
  return digest;
}

/**
 * Where to fetch a release URL from: the URL itself, or the same host and path under a mirror
 * (`<mirror>/<host>/<path>`), for machines that reach releases only through one.
 */
export function mirroredUrl(url: string, mirror: string | undefined): string {
  if (!mirror) return url;
  const parsed = new URL(url);
  return `${mirror.replace(/\/$/, '')}/${parsed.host}${parsed.pathname}`;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url, { redirect: 'follow' }).catch((error: Error) => {
    const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
    throw new Error(`GET ${url} failed (${error.message}${cause})`);
  });
  if (!response.ok || !response.body) {
    throw new Error(`GET ${url}: HTTP ${response.status} ${response.statusText}`);
  }
  return response;
}

/**
 * Downloads a release into `scratchDir`, checks it against the checksum published beside it, and returns the path
 * of the binary (extracted from the archive when the release is one). Nothing is returned unverified.
 */
export async function downloadRelease(
  download: ReleaseDownload,
  scratchDir: string,
  binaryName: string,
  mirror?: string,
): Promise<string> {
  const downloadName = basename(new URL(download.url).pathname);
  const expected = parseChecksumFile(
    await (await fetchOk(mirroredUrl(download.checksum.url, mirror))).text(),
    download.checksum,
    downloadName,
  );
  const target = join(scratchDir, downloadName);
  const hash = createHash('sha256');
  const response = await fetchOk(mirroredUrl(download.url, mirror));
  const hashing = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  await pipeline(Readable.fromWeb(response.body as ReadableStream), hashing, createWriteStream(target));
  const actual = hash.digest('hex');
  if (actual !== expected) {
    throw new Error(
      `checksum mismatch for ${download.url}: expected ${expected}, got ${actual}; nothing was installed`,
    );
  }
  if (!download.archiveMember) return target;
  const extractDir = join(scratchDir, 'extract');
  await mkdir(extractDir, { recursive: true });
  try {
    await run('tar', ['-xzf', target, '-C', extractDir, download.archiveMember]);
  } catch (error) {
    throw new Error(`${downloadName} does not hold ${download.archiveMember}: ${(error as Error).message}`);
  }
  const binary = join(scratchDir, binaryName);
  await rename(join(extractDir, download.archiveMember), binary);
  return binary;
}
