/** One member of a tar archive. Directory paths end without a slash; the writer adds it. */
export type TarEntry =
  | { type: 'directory'; path: string; mode: number }
  | { type: 'file'; path: string; mode: number; content: Buffer }
  | { type: 'symlink'; path: string; target: string };

const BLOCK = 512;
const NAME_LENGTH = 100;
const PREFIX_LENGTH = 155;
const MAX_SIZE = 8 ** 11 - 1;

/**
 * A POSIX ustar archive, owned by root, every timestamp zero so the same entries always give the same bytes (and
 * so the same image digests). Paths up to 100 bytes, or 256 split at a slash into ustar's prefix and name fields
 * (node_modules has longer ones); link targets up to 100 bytes, files below 8 GiB: all an image layer here needs.
 */
export function tarArchive(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    const size = entry.type === 'file' ? entry.content.length : 0;
    const name = entry.type === 'directory' ? `${entry.path}/` : entry.path;
    parts.push(
      entry.type === 'symlink'
        ? tarHeader(name, 0o777, 0, entry.type, entry.target)
        : tarHeader(name, entry.mode, size, entry.type),
    );
    if (entry.type === 'file') {
      parts.push(entry.content);
      const padding = (BLOCK - (size % BLOCK)) % BLOCK;
      if (padding > 0) parts.push(Buffer.alloc(padding));
    }
  }
  // The end of an archive: two zero blocks.
  parts.push(Buffer.alloc(2 * BLOCK));
  return Buffer.concat(parts);
}

const TYPE_FLAGS: Record<TarEntry['type'], string> = { file: '0', symlink: '2', directory: '5' };

/**
 * A path as ustar's name and prefix fields: as is when it fits the name, else split at the last slash that leaves
 * a name of at most 100 bytes and a prefix of at most 155 (readers join them with a slash).
 */
export function ustarName(path: string): { name: string; prefix: string } {
  if (Buffer.byteLength(path) <= NAME_LENGTH) return { name: path, prefix: '' };
  for (let slash = path.lastIndexOf('/', path.length - 2); slash > 0; slash = path.lastIndexOf('/', slash - 1)) {
    const prefix = path.slice(0, slash);
    const name = path.slice(slash + 1);
    if (Buffer.byteLength(name) > NAME_LENGTH) break;
    if (Buffer.byteLength(prefix) <= PREFIX_LENGTH) return { name, prefix };
  }
  throw new Error(`tar: path longer than ${NAME_LENGTH} bytes that no slash splits into ustar fields: ${path}`);
}

function tarHeader(path: string, mode: number, size: number, type: TarEntry['type'], linkName = ''): Buffer {
  const { name, prefix } = ustarName(path);
  if (Buffer.byteLength(linkName) > NAME_LENGTH) throw new Error(`tar: link target too long: ${linkName}`);
  if (size > MAX_SIZE) throw new Error(`tar: ${path} is too large for a ustar header`);
  const header = Buffer.alloc(BLOCK);
  header.write(name, 0, NAME_LENGTH, 'utf8');
  header.write(prefix, 345, PREFIX_LENGTH, 'utf8');
  writeOctal(header, mode, 100, 8);
  writeOctal(header, 0, 108, 8); // uid
  writeOctal(header, 0, 116, 8); // gid
  writeOctal(header, size, 124, 12);
  writeOctal(header, 0, 136, 12); // mtime
  header.write(TYPE_FLAGS[type], 156, 1, 'ascii');
  header.write(linkName, 157, NAME_LENGTH, 'utf8');
  header.write('ustar\u000000', 257, 8, 'ascii');
  header.write('root', 265, 32, 'ascii');
  header.write('root', 297, 32, 'ascii');
  // The checksum is the byte sum of the header with its own field read as eight spaces.
  header.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return header;
}

/** A zero-padded octal number filling a field but its last byte, which stays NUL. */
function writeOctal(header: Buffer, value: number, offset: number, length: number): void {
  header.write(value.toString(8).padStart(length - 1, '0'), offset, length - 1, 'ascii');
}
