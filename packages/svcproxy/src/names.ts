/**
 * Chain names, stable across syncs: PREFIX-KIND-HASH, where HASH is base32
 * of a 96-bit hash of what the chain stands for (kube-proxy's scheme, with a
 * non-cryptographic hash: at 60k chains sha256 through node:crypto was a
 * third of a full render), cut so the whole name stays within 28
 * characters (iptables' limit is 28 + NUL).
 */
import { UsageError } from '@boxkit/common/errors';
import { endpointText, type Endpoint, type Service } from './model.js';

export const DEFAULT_PREFIX = 'BKSVC';
const MAX_CHAIN = 28;
const MIN_HASH = 8;
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

export function checkPrefix(prefix: string): string {
  // the longest fixed chain is PREFIX-POSTROUTING; hashed chains need >= 8 hash characters
  if (!/^[A-Za-z][A-Za-z0-9_]{0,14}$/.test(prefix)) {
    throw new UsageError(`invalid chain prefix '${prefix}'`, 'use 1-15 letters, digits or _, starting with a letter');
  }
  if (/^KUBE/i.test(prefix)) throw new UsageError(`chain prefix '${prefix}' would mix with kube-proxy's own chains`);
  return prefix;
}

/**
 * Three murmur3-style 32-bit lanes with different seeds: 96 bits, 80 of them
 * used. The lanes run in one pass over the key (a full render hashes 60k
 * keys at 10k services); the result is the same as three separate passes.
 */
const SEEDS = [0x9747b28c, 0x85ebca6b, 0xc2b2ae35] as const;

function fmix(h: number, len: number): number {
  h ^= len;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

type Lanes = readonly [number, number, number];

/** The three lanes after hashing `key` on from `start` (a key's lanes are its prefix's, continued). */
function lanes(key: string, start: Lanes = SEEDS): Lanes {
  let a = start[0], b = start[1], c = start[2];
  for (let i = 0; i < key.length; i++) {
    // murmur3's mix of each lane with the character, written out: the scrambled character is the same for all
    // three, and a full render runs this cold for ~75k characters (three calls each cost more than the arithmetic)
    let k = Math.imul(key.charCodeAt(i), 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    a ^= k;
    a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe6546b64) | 0;
    b ^= k;
    b = (Math.imul((b << 13) | (b >>> 19), 5) + 0xe6546b64) | 0;
    c ^= k;
    c = (Math.imul((c << 13) | (c >>> 19), 5) + 0xe6546b64) | 0;
  }
  return [a, b, c];
}

/** The character codes of B32. */
const B32_CODES = Array.from(B32, (c) => c.charCodeAt(0));

/**
 * `head` and base32 of the hash's first n*5 bits (n <= 16), lanes taken
 * big-endian as one 96-bit string: the whole chain name made at once as
 * one flat string (appending 16 characters one at a time made 16 strings,
 * and a name made of pieces is flattened again when it is hashed as a map
 * key: a full render makes 6 names per service, all in cold code).
 */
function b32(head: readonly number[], l: Lanes, len: number, n: number): string {
  const h0 = fmix(l[0], len), h1 = fmix(l[1], len), h2 = fmix(l[2], len);
  const codes = head.slice();
  for (let i = 0; i < n; i++) {
    // bits [5i, 5i+5) of the 96-bit value, possibly straddling two lanes
    const bit = i * 5;
    const lane = bit >>> 5;
    const off = bit & 31;
    const a = lane === 0 ? h0 : lane === 1 ? h1 : h2;
    let v: number;
    if (off <= 27) v = (a >>> (27 - off)) & 31;
    else v = ((a << (off - 27)) | ((lane === 0 ? h1 : h2) >>> (59 - off))) & 31;
    codes.push(B32_CODES[v]!);
  }
  return String.fromCharCode.apply(null, codes);
}

const codesOf = (s: string): number[] => Array.from(s, (c) => c.charCodeAt(0));

/** A service's chain names: its SVC chain, and its SEP chains from a key prefix hashed once. */
export interface ServiceNames {
  svc: string;
  /** the SEP chain of an endpoint, given as its IP:PORT text */
  sep(endpoint: string): string;
}

export class Names {
  readonly services: string;
  readonly nodePorts: string;
  readonly markMasq: string;
  readonly postrouting: string;
  private readonly hashLen: number;
  /** `PREFIX-SVC-` and the others, as character codes (b32) */
  private readonly heads: Record<'SVC' | 'SEP' | 'SVB', readonly number[]>;
  constructor(readonly prefix: string) {
    checkPrefix(prefix);
    this.services = `${prefix}-SERVICES`;
    this.nodePorts = `${prefix}-NODEPORTS`;
    this.markMasq = `${prefix}-MARK-MASQ`;
    this.postrouting = `${prefix}-POSTROUTING`;
    this.hashLen = Math.min(16, MAX_CHAIN - prefix.length - 5);
    if (this.hashLen < MIN_HASH) throw new UsageError(`chain prefix '${prefix}' is too long`);
    this.heads = { SVC: codesOf(`${prefix}-SVC-`), SEP: codesOf(`${prefix}-SEP-`), SVB: codesOf(`${prefix}-SVB-`) };
  }
  private hashed(kind: 'SVB', key: string): string {
    return b32(this.heads[kind], lanes(key), key.length, this.hashLen);
  }
  /** One chain per service (its VIP:port and NodePort jump here). */
  svc(s: Service): string {
    return this.of(s).svc;
  }
  /** One chain per endpoint of a service. */
  sep(s: Service, e: Endpoint): string {
    return this.of(s).sep(endpointText(e));
  }
  /** svc() and sep() for one service, its common key prefix (name, protocol) hashed once. */
  of(s: Service): ServiceNames {
    const key = `${s.name}${s.protocol}`;
    const l = lanes(key);
    const svc = b32(this.heads.SVC, l, key.length, this.hashLen);
    const sep = this.heads.SEP;
    return { svc, sep: (ep) => b32(sep, lanes(ep, l), key.length + ep.length, this.hashLen) };
  }
  /** Second-level dispatch: one chain per /24 of VIPs, so the entry chain stays short. */
  bucket(vip: string): string {
    return this.bucketCidr(bucketOf(vip));
  }
  bucketCidr(cidr: string): string {
    return this.hashed('SVB', cidr);
  }
  /**
   * Is this chain one of ours: a name this prefix makes (a fixed chain, or
   * SVC/SEP/SVB and a hash of this prefix's length), not any name that
   * starts with PREFIX-. Another tool's DOCKER-USER or CNI-HOSTPORT-DNAT
   * next to --prefix DOCKER or CNI, or a user's BKSVC-mine, is not ours to
   * rewrite or delete, and neither are the rules that jump to it.
   */
  owns(chain: string): boolean {
    const p = this.prefix.length + 1;
    if (!chain.startsWith(this.prefix) || chain.charCodeAt(p - 1) !== 45 /* - */) return false;
    if (chain.length !== p + 4 + this.hashLen) return chain === this.services || chain === this.nodePorts || chain === this.markMasq || chain === this.postrouting;
    const kind = chain.slice(p, p + 4);
    if (kind !== 'SVC-' && kind !== 'SEP-' && kind !== 'SVB-') return false;
    for (let i = p + 4; i < chain.length; i++) {
      const c = chain.charCodeAt(i);
      if (!((c >= 65 && c <= 90) || (c >= 50 && c <= 55))) return false; // base32: A-Z, 2-7
    }
    return true;
  }
}

/** The /24 a VIP belongs to, as a CIDR. */
export function bucketOf(vip: string): string {
  return `${vip.slice(0, vip.lastIndexOf('.'))}.0/24`;
}
