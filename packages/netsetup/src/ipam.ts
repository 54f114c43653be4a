/**
 * Address management for `--ip auto`: the next free host address of the
 * bridge's subnet, skipping the bridges' own addresses. A lease is a file
 * made with O_EXCL (store.ts), so concurrent calls (20 `veth --ip auto` at
 * once) take distinct addresses without a lock; explicit addresses are
 * leased the same way, so a second container with one is refused.
 */
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { hosts, parseCidr } from './cidr.js';
import { linkNames } from './kernel.js';
import { claimLease, leasedIps, leaseHolder, reclaimOrphanLeases } from './store.js';
import type { NetState } from './state.js';

function bridgeIps(s: NetState): Set<string> {
  return new Set(Object.values(s.bridges).map((b) => b.cidr.split('/')[0]!));
}

/**
 * Lease the next free address of the bridge's subnet for `holder` (a host
 * ifname). `seen` caches the addresses known taken (from one readdir), so a
 * batch of 100 tries each address once, not 100 times; a lease another
 * process took meanwhile still fails its O_EXCL create. `gateway`: the
 * attachment's own default route (`--gateway`), never its address (not
 * added to `seen`: another attachment of the batch may have it).
 */
export function allocate(s: NetState, bridgeCidr: string, holder: string, seen: { taken?: Set<string> } = {}, gateway?: string): string {
  const net = parseCidr(bridgeCidr);
  const taken = (seen.taken ??= leasedIps());
  const skip = bridgeIps(s);
  skip.add(net.ip);
  for (const ip of skip) taken.add(ip);
  for (const ip of hosts(net)) {
    if (taken.has(ip) || ip === gateway) continue;
    taken.add(ip);
    if (claimLease(ip, holder)) return `${ip}/${net.prefix}`;
  }
  // full: leases whose holders died without a record (see reclaimOrphanLeases) come back; then
  // look again at every address, not only those this call freed: a concurrent call may have
  // freed them all first (it holds the lock), and they are free all the same
  reclaimOrphanLeases(linkNames());
  const now = leasedIps();
  for (const ip of hosts(net)) {
    if (now.has(ip) || skip.has(ip) || ip === gateway) continue;
    if (claimLease(ip, holder)) return `${ip}/${net.prefix}`;
  }
  throw new BoxkitError('EADDRNOTAVAIL', `no free address left in ${net.network}/${net.prefix}`, { hint: 'free some with netsetup down, or use a bigger subnet' });
}

/** Lease an explicit address; it must not be held by another attachment or be a bridge's address. */
export function leaseExplicit(s: NetState, cidr: string, holder: string): void {
  const net = parseCidr(cidr);
  const br = Object.values(s.bridges).find((b) => b.cidr.split('/')[0] === net.ip);
  if (br) throw new UsageError(`address ${net.ip} is the address of bridge ${br.name}`, 'use --ip auto or another address');
  if (claimLease(net.ip, holder)) return;
  const other = leaseHolder(net.ip);
  if (other !== holder) throw new UsageError(`address ${net.ip} is already in use by ${other?.split(' ')[0]}`, 'use --ip auto or another address');
}

/** The address `allocate` would take now, without taking it (dry run); `planned`: what a batch's earlier lines would take. */
export function peek(s: NetState, bridgeCidr: string, gateway?: string, planned?: Set<string>): string {
  const net = parseCidr(bridgeCidr);
  const skip = bridgeIps(s);
  skip.add(net.ip);
  const taken = leasedIps(); // one readdir (old-layout leases included), not one look per address
  for (const ip of hosts(net)) if (!skip.has(ip) && !taken.has(ip) && ip !== gateway && !planned?.has(ip)) return `${ip}/${net.prefix}`;
  throw new BoxkitError('EADDRNOTAVAIL', `no free address left in ${net.network}/${net.prefix}`);
}

/** Refuse an explicit address someone holds (dry run: nothing is taken). */
export function checkFree(s: NetState, cidr: string): void {
  const net = parseCidr(cidr);
  const other = leaseHolder(net.ip);
  if (other !== undefined) throw new UsageError(`address ${net.ip} is already in use by ${other.split(' ')[0]}`, 'use --ip auto or another address');
  if (Object.values(s.bridges).some((b) => b.cidr.split('/')[0] === net.ip)) throw new UsageError(`address ${net.ip} is a bridge's address`);
}
