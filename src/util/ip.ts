import { isIP } from 'node:net';

/** IP addresses and CIDRs as numbers, for validation and for deriving addresses (service IP, DNS IP). */
export interface IpAddress {
  family: 4 | 6;
  value: bigint;
}

/** A network: `value` is its address with the host bits cleared. */
export interface Cidr extends IpAddress {
  prefix: number;
}

const bitsOf = (family: 4 | 6) => (family === 4 ? 32 : 128);

export function parseIp(text: string): IpAddress | undefined {
  const family = isIP(text);
  if (family === 4) {
    return { family, value: text.split('.').reduce((value, octet) => (value << 8n) | BigInt(octet), 0n) };
  }
  if (family !== 6) return undefined;
  // Rewrite a dotted IPv4 tail (::ffff:10.0.0.1) as two groups, then expand `::`.
  const hex = text.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((group) => group.toString(16)).join(':'),
  );
  const [head = '', tail] = hex.split('::');
  const groups = (part: string) => (part === '' ? [] : part.split(':'));
  const [left, right] = [groups(head), groups(tail ?? '')];
  const all = tail === undefined ? left : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  return { family, value: all.reduce((value, group) => (value << 16n) | BigInt(`0x${group}`), 0n) };
}

export function formatIp({ family, value }: IpAddress): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((shift) => (value >> shift) & 0xffn).join('.');
  const groups = [...Array(8).keys()].map((index) => ((value >> BigInt(112 - 16 * index)) & 0xffffn).toString(16));
  // The WHATWG URL parser writes IPv6 hosts in their canonical, compressed form.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1);
}

export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.split('/');
  const ip = parseIp(address);
  if (!ip || extra !== undefined || !/^\d{1,3}$/.test(prefixText ?? '')) return undefined;
  const prefix = Number(prefixText);
  const hostBits = BigInt(bitsOf(ip.family) - prefix);
  if (hostBits < 0n) return undefined;
  return { family: ip.family, value: (ip.value >> hostBits) << hostBits, prefix };
}

export function cidrContains(cidr: Cidr, ip: IpAddress): boolean {
  const hostBits = BigInt(bitsOf(cidr.family) - cidr.prefix);
  return cidr.family === ip.family && ip.value >> hostBits === cidr.value >> hostBits;
}

/** The address `offset` past a CIDR's network address (10.96.0.0/16, 1 → 10.96.0.1). */
export function addressInCidr(cidrText: string, offset: number): string {
  const cidr = parseCidr(cidrText);
  if (!cidr) throw new Error(`"${cidrText}" is not an IPv4 or IPv6 CIDR`);
  return formatIp({ family: cidr.family, value: cidr.value + BigInt(offset) });
}
