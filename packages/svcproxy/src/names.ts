/**
 * Chain names, stable across syncs: PREFIX-KIND-HASH, where HASH is base32
 * of sha256 over what the chain stands for (kube-proxy's scheme), cut so the
 * whole name stays within 28 characters (iptables' limit is 28 + NUL).
 */
import { hash } from 'node:crypto';
import { UsageError } from '@boxkit/common';
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

function base32(buf: Buffer, n: number): string {
  let out = '';
  let bits = 0;
  let acc = 0;
  for (const byte of buf) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < n) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= 0xff;
    if (out.length >= n) break;
  }
  return out;
}

export class Names {
  readonly services: string;
  readonly nodePorts: string;
  readonly markMasq: string;
  readonly postrouting: string;
  private readonly hashLen: number;
  /** a sync renders the wanted and the stored services: most names are asked for twice */
  private readonly memo = new Map<string, string>();
  constructor(readonly prefix: string) {
    checkPrefix(prefix);
    this.services = `${prefix}-SERVICES`;
    this.nodePorts = `${prefix}-NODEPORTS`;
    this.markMasq = `${prefix}-MARK-MASQ`;
    this.postrouting = `${prefix}-POSTROUTING`;
    this.hashLen = Math.min(16, MAX_CHAIN - prefix.length - 5);
    if (this.hashLen < MIN_HASH) throw new UsageError(`chain prefix '${prefix}' is too long`);
  }
  private hashed(kind: string, key: string): string {
    const k = `${kind} ${key}`;
    let name = this.memo.get(k);
    if (name === undefined) {
      name = `${this.prefix}-${kind}-${base32(hash('sha256', key, 'buffer'), this.hashLen)}`;
      this.memo.set(k, name);
    }
    return name;
  }
  /** One chain per service (its VIP:port and NodePort jump here). */
  svc(s: Service): string {
    return this.hashed('SVC', `${s.name}${s.protocol}`);
  }
  /** One chain per endpoint of a service. */
  sep(s: Service, e: Endpoint): string {
    return this.hashed('SEP', `${s.name}${s.protocol}${endpointText(e)}`);
  }
  /** Second-level dispatch: one chain per /24 of VIPs, so the entry chain stays short. */
  bucket(vip: string): string {
    return this.bucketCidr(bucketOf(vip));
  }
  bucketCidr(cidr: string): string {
    return this.hashed('SVB', cidr);
  }
  /** Is this chain one of ours? The dash keeps BKSVC and BKSVC2 apart. */
  owns(chain: string): boolean {
    return chain.startsWith(`${this.prefix}-`);
  }
}

/** The /24 a VIP belongs to, as a CIDR. */
export function bucketOf(vip: string): string {
  return `${vip.slice(0, vip.lastIndexOf('.'))}.0/24`;
}
