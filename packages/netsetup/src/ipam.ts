/**
 * Address management for `--ip auto`: the next free host address of the
 * bridge's subnet, skipping the gateway and every address an attachment
 * holds (explicit ones too). Leases are the attachment records themselves,
 * so removing an attachment frees its address; callers hold the state lock.
 */
import { BoxkitError, UsageError } from '@boxkit/common';
import { contains, hosts, parseCidr, type Cidr } from './cidr.js';
import type { NetState } from './state.js';

/** Addresses in use in `net` (by attachments on any bridge, plus bridge addresses). */
export function usedAddresses(s: NetState, net: Cidr): Set<string> {
  const used = new Set<string>();
  for (const a of Object.values(s.attachments)) {
    const ip = a.ip.split('/')[0]!;
    if (contains(net, ip)) used.add(ip);
  }
  for (const b of Object.values(s.bridges)) {
    const ip = b.cidr.split('/')[0]!;
    if (contains(net, ip)) used.add(ip);
  }
  return used;
}

/** Take the next free address of the bridge's subnet; `extra` are addresses taken in this same call. */
export function allocate(s: NetState, bridgeCidr: string, extra: Set<string>): string {
  const net = parseCidr(bridgeCidr);
  const used = usedAddresses(s, net);
  used.add(net.ip);
  for (const ip of hosts(net)) {
    if (!used.has(ip) && !extra.has(ip)) return `${ip}/${net.prefix}`;
  }
  throw new BoxkitError('EADDRNOTAVAIL', `no free address left in ${net.network}/${net.prefix}`, { hint: 'free some with netsetup down, or use a bigger subnet' });
}

/** An explicit address must not be held by another attachment or be a bridge's address. */
export function checkExplicit(s: NetState, cidr: string, hostIfname: string, extra: Set<string>): void {
  const ip = cidr.split('/')[0]!;
  const holder = Object.values(s.attachments).find((a) => a.ip.split('/')[0] === ip && a.hostIfname !== hostIfname);
  if (holder || extra.has(ip)) {
    throw new UsageError(`address ${ip} is already in use${holder ? ` by ${holder.netns ?? `pid ${holder.pid}`} (${holder.hostIfname})` : ' in this batch'}`, 'use --ip auto or another address');
  }
  const br = Object.values(s.bridges).find((b) => b.cidr.split('/')[0] === ip);
  if (br) throw new UsageError(`address ${ip} is the address of bridge ${br.name}`, 'use --ip auto or another address');
}
