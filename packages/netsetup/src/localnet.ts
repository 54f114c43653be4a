/**
 * route_localnet on a bridge, and the guard that must come with it.
 *
 * A port published on localhost (`curl 127.0.0.1:8080`) is DNATed in OUTPUT
 * and leaves through the container's bridge with source 127.0.0.1, which
 * the kernel drops as martian unless route_localnet is on for that bridge.
 * With it on, the kernel also accepts packets arriving from the bridge
 * addressed to 127.0.0.0/8 (CVE-2020-8558): a container that routes
 * 127.0.0.1 via its gateway reaches every host service bound to
 * localhost. kube-proxy's answer (its KUBE-FIREWALL rule) is kept here per
 * bridge, in a filter chain of netsetup's own reached from INPUT: drop what
 * comes in on the bridge for 127.0.0.0/8 from a non-local source, unless
 * conntrack knows it (replies to the host's own localhost connections, whose
 * source the publish masquerade rewrote). The guard is in place before the
 * sysctl is turned on and goes after it is given back; the value before
 * netsetup set it is kept in the state (`localnet`), and given back when the
 * last publish that needs it on that bridge is removed.
 */
import { readFileSync } from 'node:fs';
import { netString, parseCidr } from './cidr.js';
import { deleteRules, filter, hasComment, remaining, type NatTable } from './iptables.js';
import { sysctlPath, type Op } from './ops.js';
import type { NetState, PublishRecord } from './state.js';

export const GUARD_CHAIN = 'BOXKIT-LOCALNET';
const GUARD_HOOK = 'boxkit localnet guard';
const guardComment = (bridge: string) => `boxkit localnet ${bridge}: drop non-local to 127.0.0.0/8`;
const isGuard = (c: string) => c.startsWith('boxkit localnet ') && c !== GUARD_HOOK;

export const localnetKey = (bridge: string) => `net.ipv4.conf.${bridge}.route_localnet`;

/** The bridge's route_localnet now ('0' or '1'), undefined when the bridge does not exist. */
export function readLocalnet(bridge: string): string | undefined {
  try {
    return readFileSync(sysctlPath(localnetKey(bridge)), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Does a publish to `bridge` need route_localnet there (it answers on a localhost address)? */
export function needsLocalnet(hostIp: string | undefined, bridge: string | undefined): bridge is string {
  // a VLAN-style name (br.10) is a key the sysctl tree spells with '/' instead: left alone, as before
  return (!hostIp || hostIp.startsWith('127.')) && !!bridge && !bridge.includes('.');
}

/**
 * Ops that turn route_localnet on for `bridge`, the guard first; records
 * the value before in `s` (the first time) when `record`. Only what is missing.
 */
export function planLocalnetOn(s: NetState, t: NatTable, bridge: string, record: boolean): Op[] {
  const ops: Op[] = [];
  if (!t.chains.has(GUARD_CHAIN)) ops.push(filter('-N', GUARD_CHAIN));
  // first in INPUT: an ACCEPT of another program ahead of it would let the packets by
  if (!t.rules.some((r) => r.chain === 'INPUT' && r.comment === GUARD_HOOK)) ops.push(filter('-I', 'INPUT', '1', '-m', 'comment', '--comment', GUARD_HOOK, '-j', GUARD_CHAIN));
  const c = guardComment(bridge);
  if (!hasComment(t, c)) {
    // in the order iptables-save prints it back (so --dry-run and `ls` read alike)
    ops.push(filter('-A', GUARD_CHAIN, '!', '-s', '127.0.0.0/8', '-d', '127.0.0.0/8', '-i', bridge,
      '-m', 'conntrack', '!', '--ctstate', 'RELATED,ESTABLISHED,DNAT', '-m', 'comment', '--comment', c, '-j', 'DROP'));
  }
  const now = readLocalnet(bridge);
  if (record && !s.localnet[bridge]) s.localnet[bridge] = { before: now ?? '0' };
  if (now !== '1') ops.push({ kind: 'sysctl', key: localnetKey(bridge), value: '1' });
  return ops;
}

/** The bridge a publish record needs route_localnet on (older records name none: found by their subnet). */
function localnetOf(s: NetState, p: PublishRecord): string | undefined {
  if (p.localnet !== undefined) return p.localnet;
  const b = Object.values(s.bridges).find((x) => netString(parseCidr(x.cidr)) === p.subnet);
  return needsLocalnet(p.hostIp, b?.name) ? b!.name : undefined;
}

/**
 * Ops that give route_localnet back on each bridge of `s.localnet` that no
 * publish of `s` needs any more (its value before, when the bridge is still
 * there), then take its guard away (and the chain and hook after the last);
 * the records go from `s`. A guard with no record (netsetup killed between
 * the two) goes too when no publish needs its bridge.
 */
export function planLocalnetOff(s: NetState, t: NatTable): Op[] {
  const needed = new Set(Object.values(s.publish).map((p) => localnetOf(s, p)).filter((b): b is string => !!b));
  const ops: Op[] = [];
  for (const [bridge, rec] of Object.entries(s.localnet)) {
    if (needed.has(bridge)) continue;
    const now = readLocalnet(bridge);
    if (now !== undefined && now !== rec.before) ops.push({ kind: 'sysctl', key: localnetKey(bridge), value: rec.before });
    delete s.localnet[bridge];
  }
  const unneeded = (c: string) => isGuard(c) && ![...needed].some((b) => c === guardComment(b));
  ops.push(...deleteRules(t, unneeded, 'filter'));
  if (t.chains.has(GUARD_CHAIN) && remaining(t, GUARD_CHAIN, unneeded) === 0) {
    ops.push(...deleteRules(t, (c) => c === GUARD_HOOK, 'filter'), filter('-X', GUARD_CHAIN));
  }
  return ops;
}
