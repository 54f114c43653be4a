/**
 * IPv4 addresses and prefixes as numbers: parsing, containment and the host
 * range IPAM hands out. IPv6 is not handled (the article's network is v4).
 */
import { UsageError } from '@boxkit/common/errors';

export interface Cidr {
  /** the address as written (10.10.15.1 in 10.10.15.1/24) */
  ip: string;
  prefix: number;
  /** the network address (10.10.15.0) */
  network: string;
}

const OCTET = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

export function isIp(s: string): boolean {
  const p = s.split('.');
  return p.length === 4 && p.every((o) => OCTET.test(o));
}

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

export function networkOf(ip: string, prefix: number): string {
  return intToIp((ipToInt(ip) & mask(prefix)) >>> 0);
}

/** Parse `A.B.C.D/N` (or a bare address when `defaultPrefix` is given). */
export function parseCidr(s: string, what = 'address', defaultPrefix?: number): Cidr {
  const [ip = '', len, extra] = String(s).split('/');
  const prefix = len === undefined ? defaultPrefix : /^\d{1,2}$/.test(len) ? Number(len) : NaN;
  if (extra !== undefined || !isIp(ip) || prefix === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new UsageError(`invalid ${what} '${s}'`, 'write an IPv4 address with a prefix length, like 10.10.15.2/24');
  }
  return { ip, prefix, network: networkOf(ip, prefix) };
}

/**
 * Parse the address of an interface (a container's, a bridge's): not the
 * network or broadcast address of its prefix, which the kernel accepts but
 * then treats as the subnet's broadcast. /31 and /32 have neither (RFC 3021).
 */
/**
 * Ranges no interface can use as its own address: the kernel takes
 * 0.0.0.0 silently and keeps no address at all, 127/8 belongs to lo (a
 * bridge holding it steals the host's loopback routes), and 224/4 and
 * above are multicast, reserved and the limited broadcast.
 */
const NOT_A_HOST: readonly [first: number, prefix: number, why: string][] = [
  [0, 8, '0.0.0.0/8 is "this network", not an address'],
  [127 << 24, 8, '127.0.0.0/8 is loopback'],
  [224 << 24, 3, 'multicast, reserved or broadcast (224.0.0.0 and up)'],
];

export function parseHostCidr(s: string, what = 'address'): Cidr {
  const c = parseCidr(s, what);
  const n = ipToInt(c.ip);
  for (const [first, prefix, why] of NOT_A_HOST) {
    if (((n & mask(prefix)) >>> 0) === first >>> 0) throw new UsageError(`invalid ${what} '${s}': ${why}`, 'use a unicast address, like 10.10.15.1/24');
  }
  const size = 2 ** (32 - c.prefix);
  const off = ipToInt(c.ip) - ipToInt(c.network);
  if (size > 2 && (off === 0 || off === size - 1)) {
    throw new UsageError(`invalid ${what} '${s}': the ${off === 0 ? 'network' : 'broadcast'} address of ${c.network}/${c.prefix}`,
      `use a host address, ${intToIp(ipToInt(c.network) + 1)} to ${intToIp(ipToInt(c.network) + size - 2)}`);
  }
  return c;
}

export function parseIp(s: string, what = 'address'): string {
  if (!isIp(String(s))) throw new UsageError(`invalid ${what} '${s}'`, 'write an IPv4 address, like 10.10.15.1');
  return String(s);
}

export function formatCidr(c: Cidr): string {
  return `${c.ip}/${c.prefix}`;
}

/** The network in canonical form: 10.10.15.0/24. */
export function netString(c: Cidr): string {
  return `${c.network}/${c.prefix}`;
}

export function contains(net: Cidr, ip: string): boolean {
  return ((ipToInt(ip) & mask(net.prefix)) >>> 0) === ipToInt(net.network);
}

/** Whether two networks share an address (one contains the other's network address). */
export function overlaps(a: Cidr, b: Cidr): boolean {
  return contains(a, b.network) || contains(b, a.network);
}

/** Usable host addresses of a network (not the network or broadcast address). */
export function* hosts(net: Cidr): Generator<string> {
  const base = ipToInt(net.network);
  const size = 2 ** (32 - net.prefix);
  if (size <= 2) {
    for (let i = 0; i < size; i++) yield intToIp(base + i);
    return;
  }
  for (let i = 1; i < size - 1; i++) yield intToIp(base + i);
}
