/**
 * The container's network, through the netsetup library: nothing (a fresh
 * netns with only lo), the host's, or a bridge: the bridge (made on first
 * use for the default boxkit0, like docker0) with NAT for its subnet, a
 * veth pair whose peer is created inside the held child's netns, an
 * address from IPAM (or --ip), the default route, and published ports.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { BoxkitError, shellQuote, UsageError } from '@boxkit/common';
import { attach, attachableBridge, contains, detach, ensureBridge, ensureNat, parseCidr as nsParseCidr, parseHostCidr, planBridge, planNat, publish } from '@boxkit/netsetup';
import type { NetRecord } from '../state/record.js';
import { list } from '../state/store.js';
import { DEFAULT_BRIDGE, parseCidr, type ContainerSpec, type Publish } from './spec.js';

/** The default bridge's subnet (podman's default, away from docker's 172.17/16). */
export const DEFAULT_BRIDGE_CIDR = '10.88.0.1/16';

export interface NetPlan {
  spec: ContainerSpec;
  hostVeth: string;
  /** The --ip checkIp resolved (a CIDR), attached as it is: not resolved a second time. */
  ip?: string;
}

/** The bridge's own address for a bridge that does not exist yet, or undefined (then: error). */
function bridgeAddressFor(p: NetPlan, bridge: string): string | undefined {
  if (bridge === DEFAULT_BRIDGE) return DEFAULT_BRIDGE_CIDR;
  if (p.spec.ip && p.spec.ip !== 'auto' && p.spec.ip.includes('/')) {
    // the first host of the container's subnet, as the article's 10.10.15.1/24
    const c = parseCidr(p.spec.ip);
    const n = nsParseCidr(p.spec.ip);
    const first = n.network.split('.').map(Number);
    first[3]! += 1;
    return `${first.join('.')}/${c.prefix}`;
  }
  return undefined;
}

function networkOf(cidr: string): string {
  const n = nsParseCidr(cidr);
  return `${n.network}/${n.prefix}`;
}

/**
 * The address of the bridge the run makes (with NAT), or undefined when the
 * link exists and is used as it is; a missing bridge with no address to
 * give it is refused. setupNetwork and the dry run both decide here.
 */
function bridgeToMake(p: NetPlan, bridge: string): string | undefined {
  if (linkExists(bridge)) return undefined;
  const addr = bridgeAddressFor(p, bridge);
  if (!addr) throw new UsageError(`no bridge '${bridge}'`, `create it (netsetup bridge ${bridge} 10.10.15.1/24) or give --ip CIDR`);
  return addr;
}

/**
 * The --ip to attach with: `auto`, a CIDR as given, or a bare address (docker's `--ip
 * 10.88.0.5`) with the prefix of the bridge it joins: the one the run makes, or the existing one's.
 * One off that bridge's subnet is refused here, before the bridge is made, in run's words
 * (netsetup's own refusal names its --gateway, which run has not).
 */
async function ipToAttach(p: NetPlan, made: string | undefined): Promise<string> {
  const ip = p.spec.ip ?? 'auto';
  if (ip === 'auto') return ip;
  const name = p.spec.net.mode === 'bridge' ? p.spec.net.bridge : DEFAULT_BRIDGE;
  const bridge = made ?? (await attachableBridge(name));
  const cidr = ip.includes('/') ? ip : `${ip}/${bridge.split('/')[1]}`;
  // not a host address (the subnet's network or broadcast address, loopback...): netsetup's own refusal
  parseHostCidr(cidr, 'address (--ip)');
  const brIp = bridge.split('/')[0]!;
  if (!contains(nsParseCidr(cidr), brIp)) {
    throw new UsageError(`address ${cidr} is not on bridge ${name}'s subnet (${bridge}): it would get no default route`,
      `use an address of ${networkOf(bridge)}, or --ip auto; another subnet needs a bridge of its own: --net bridge:NAME --ip CIDR (made when missing)`);
  }
  if (cidr.split('/')[0] === brIp) throw new UsageError(`address ${cidr} is bridge ${name}'s own address`, `use another address of ${networkOf(bridge)}, or --ip auto`);
  return cidr;
}

/**
 * A given --ip that the attach would refuse (see ipToAttach), refused with the start's other
 * checks, before anything is made; --ip auto and the other modes cost nothing here. Returns the
 * address to attach (NetPlan's ip: setupNetwork takes it as it is), undefined for those.
 */
export async function checkIp(spec: ContainerSpec): Promise<string | undefined> {
  if (spec.net.mode !== 'bridge' || !spec.ip || spec.ip === 'auto') return undefined;
  const p = { spec, hostVeth: '' };
  return ipToAttach(p, bridgeToMake(p, spec.net.bridge));
}

const bridgeLine = (bridge: string, addr: string) => shellQuote(['netsetup', 'bridge', bridge, addr]);
const natLine = (net: string, outIf?: string) => shellQuote(['netsetup', 'nat', net, ...(outIf ? ['--out-if', outIf] : [])]);
const vethLine = (p: NetPlan, bridge: string, pid: string, ip: string) =>
  `IP=$(${shellQuote(['netsetup', 'veth', '--pid'])} ${pid} ${shellQuote(['--bridge', bridge, '--ip', ip, '--host-ifname', p.hostVeth, '--hairpin', '--json'])} | jq -r .ip | cut -d/ -f1)`;
const publishLine = (pub: Publish, hostPort: number) =>
  `netsetup publish ${hostPort}:"$IP":${pub.containerPort}/${pub.proto}${pub.hostIp ? ` --host-ip ${pub.hostIp}` : ''}`;

/**
 * Shell lines for --dry-run; $PID stands for the held child's pid. `natOutIf`: the --out-if of
 * netsetup's nat of the network of a bridge the run makes, kept as it is there (netDryRun).
 * (-v prints the same lines from setupNetwork, with what each step did: the nat's kept --out-if,
 * the host port a -p PORT took.)
 */
function netShell(p: NetPlan, pid: string, natOutIf?: string): string[] {
  const n = p.spec.net;
  if (n.mode !== 'bridge') return [];
  const lines: string[] = [];
  const addr = bridgeToMake(p, n.bridge);
  if (addr) lines.push(bridgeLine(n.bridge, addr), natLine(networkOf(addr), natOutIf));
  lines.push(vethLine(p, n.bridge, pid, p.spec.ip ?? 'auto'));
  // -p PORT alone: the port the run would try first
  for (const pub of p.spec.publish) lines.push(publishLine(pub, pub.hostPort || freeHostPorts(pub.proto).next().value));
  return lines;
}

/**
 * netShell for `run --dry-run`, after the checks the real run makes before
 * it changes anything: the bridge it would make must be one `netsetup
 * bridge` accepts, the bridge it would use one `veth` attaches to (an
 * existing boxkit0 with another subnet is used as it is, as the real run
 * does, not given the default address a second time).
 */
export async function netDryRun(p: NetPlan, pid: string): Promise<string[]> {
  const n = p.spec.net;
  if (n.mode === 'bridge') {
    const addr = bridgeToMake(p, n.bridge);
    // netsetup's nat of that network, made by hand with --out-if, is kept as the real run keeps it
    // (a plain `netsetup nat NET` over it is refused): the line names its --out-if
    const natOutIf = addr ? (await planNat(networkOf(addr), undefined, true, true)).outIf : undefined;
    if (addr) await planBridge(n.bridge, addr);
    else await attachableBridge(n.bridge);
    return netShell({ ...p, spec: { ...p.spec, ip: await ipToAttach(p, addr) } }, pid, natOutIf);
  }
  return netShell(p, pid);
}

/** Is there a link of that name in this network namespace (no process, no netlink)? */
function linkExists(name: string): boolean {
  try {
    return readFileSync('/proc/self/net/dev', 'utf8').split('\n').some((l) => l.slice(0, l.indexOf(':')).trim() === name);
  } catch {
    return false;
  }
}

/** Does a socket of this host (this network namespace) hold the port: a TCP listener, or any UDP socket bound to it? */
function portInUse(port: number, proto: 'tcp' | 'udp'): boolean {
  for (const file of [proto, `${proto}6`]) {
    let table: string;
    try {
      table = readFileSync(`/proc/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6
    }
    for (const line of table.split('\n').slice(1)) {
      // sl local_address(hex addr:hex port) rem_address st ...
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || parseInt(local.slice(local.lastIndexOf(':') + 1), 16) !== port) continue;
      if (proto === 'udp' || state === '0A') return true;
    }
  }
  return false;
}

/**
 * Refuse a --publish whose host port a host process holds, before anything
 * is made (docker: "port is already allocated"): the DNAT rule would take
 * that service's connections, the host's own (OUTPUT) included, silently.
 */
export function checkHostPorts(publish: readonly Publish[]): void {
  for (const p of publish) {
    if (p.hostPort && portInUse(p.hostPort, p.proto)) {
      throw new BoxkitError('EADDRINUSE', `host port ${p.hostPort}/${p.proto} is in use on this host`, { hint: 'a process of the host holds it: publish another host port (-p OTHER:PORT)' });
    }
  }
}

/** The kernel's ephemeral port range (ip_local_port_range), where docker picks the host port of `-p PORT`. */
function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (lo! >= 1 && hi! >= lo! && hi! <= 65535) return [lo!, hi!];
  } catch {
    // no procfs entry: the kernel's default
  }
  return [32768, 60999];
}

/** Host ports no process of the host holds, from a random point of the ephemeral range onwards (wrapping). */
export function* freeHostPorts(proto: 'tcp' | 'udp'): Generator<number, number> {
  const [lo, hi] = ephemeralRange();
  const span = hi - lo + 1;
  const start = randomInt(span);
  for (let i = 0; i < span; i++) {
    const port = lo + ((start + i) % span);
    if (!portInUse(port, proto)) yield port;
  }
  throw new BoxkitError('EADDRINUSE', `no free host port for ${proto} in ${lo}-${hi}`, { hint: 'publish a chosen host port: -p HOSTPORT:PORT' });
}

/**
 * netsetup's refusal of a host port another container publishes, told as docker tells it: the
 * container that holds the port (its hint pointed at deleting that container's rule by hand).
 */
function portHolder(pub: Publish, e: BoxkitError): BoxkitError {
  const holder = list().find((r) => r.net.publish?.some((p) => p.hostPort === pub.hostPort && p.proto === pub.proto));
  if (!holder) return e;
  return new BoxkitError('EADDRINUSE', `host port ${pub.hostPort}/${pub.proto} is already published by container ${holder.name}`, {
    hint: `publish another host port (-p OTHER:${pub.containerPort}, or -p ${pub.containerPort} for any free one), or run rm -f ${holder.name}`,
  });
}

/**
 * Publish one port; a host port of 0 becomes a free one (another container's published port is skipped too).
 * `hostIpChecked`: its host address was found to be this host's (toSpec): netsetup does not ask again.
 */
async function publishPort(pub: Publish, containerIp: string, hostIpChecked = false): Promise<Publish> {
  const opts = { hostIpChecked };
  if (pub.hostPort) {
    const spec = { hostPort: pub.hostPort, containerIp, containerPort: pub.containerPort, proto: pub.proto, ...(pub.hostIp ? { hostIp: pub.hostIp } : {}) };
    try {
      await publish(spec, opts);
    } catch (e) {
      // held by a container that has ended with nobody to notice (a -d one that exited): it gives the port back, as docker's would have
      if ((e as BoxkitError).code !== 'EEXIST') throw e;
      const { settlePublishers } = await import('./lifecycle.js');
      if (!(await settlePublishers(pub.hostPort, pub.proto))) throw portHolder(pub, e as BoxkitError);
      await publish(spec, opts);
    }
    return pub;
  }
  let tries = 0;
  for (const hostPort of freeHostPorts(pub.proto)) {
    try {
      await publish({ hostPort, containerIp, containerPort: pub.containerPort, proto: pub.proto, ...(pub.hostIp ? { hostIp: pub.hostIp } : {}) }, opts);
      return { ...pub, hostPort };
    } catch (e) {
      // published already (to another container): netsetup refuses it, try the next
      if ((e as BoxkitError).code !== 'EEXIST' || ++tries >= 32) throw e;
    }
  }
  throw new BoxkitError('EADDRINUSE', `no free host port for ${pub.proto}`);
}

/**
 * attach(), where an --ip address netsetup refuses as in use is looked up among the containers:
 * one that ended with nobody to notice (a -d one that exited) gives it back and the attach is
 * tried again, as for a published port; one that runs is named (netsetup names its host veth).
 */
async function attachSettling(spec: Parameters<typeof attach>[0]): ReturnType<typeof attach> {
  try {
    return await attach(spec);
  } catch (e) {
    if (!spec.ip || spec.ip === 'auto' || !(e instanceof BoxkitError) || !/already in use/.test(e.message)) throw e;
    const addr = spec.ip.split('/')[0]!;
    const holders = list().filter((r) => r.net.ip?.split('/')[0] === addr);
    if (!holders.length) throw e;
    const { settle } = await import('./lifecycle.js');
    let freed = false;
    for (const h of holders) if (await settle(h)) freed = true;
    if (freed) return attach(spec);
    throw new BoxkitError('EADDRINUSE', `address ${addr} is already in use by container ${holders[0]!.name}`, { hint: 'use --ip auto or another address', exitCode: e.exitCode });
  }
}

/**
 * Set up the network for the held child `pid`; returns what to record. `trace` (-v) gets each
 * step's line as --dry-run prints it, with what the step did: the --out-if of a nat kept as the
 * user made it, and the host port a -p PORT took (it printed the plain nat line, and a port of
 * its own random pick).
 */
export async function setupNetwork(p: NetPlan, pid: number, trace?: (line: () => string) => void): Promise<NetRecord> {
  const n = p.spec.net;
  if (n.mode !== 'bridge') return { mode: n.mode };
  // Run makes the bridge only when the link is missing, and NAT with it (like
  // docker0 at daemon start: checking NAT on every start would cost an
  // iptables-save each time; a bridge the user made keeps the NAT the user
  // chose, and so does netsetup's nat of the subnet of a bridge run makes,
  // made by hand with an --out-if: kept, its missing rules made, not refused).
  // An existing bridge is left to attach(), which knows its address from
  // netsetup's state: asking the kernel here started an `ip` process on
  // every start.
  const addr = bridgeToMake(p, n.bridge);
  // (a start resolved a given --ip in checkIp, with its other checks)
  const ip = p.ip ?? (await ipToAttach(p, addr));
  if (addr) {
    trace?.(() => bridgeLine(n.bridge, addr));
    await ensureBridge(n.bridge, addr);
    // (its line once made: the --out-if kept is known then)
    const nat = await ensureNat(networkOf(addr), { keepOutIf: true });
    trace?.(() => natLine(nat.cidr, nat.outIf));
  }
  trace?.(() => vethLine(p, n.bridge, String(pid), ip));
  const a = await attachSettling({ pid, bridge: n.bridge, ip, hostIfname: p.hostVeth, hairpin: true });
  const rec: NetRecord = { mode: 'bridge', bridge: n.bridge, ip: a.ip, hostVeth: a.hostIfname, ...(a.gateway ? { gateway: a.gateway } : {}), publish: [] };
  const containerIp = a.ip.split('/')[0]!;
  try {
    for (const pub of p.spec.publish) {
      if (pub.hostPort) trace?.(() => publishLine(pub, pub.hostPort));
      const done = await publishPort(pub, containerIp, p.spec.hostIpsChecked);
      rec.publish!.push(done);
      // -p PORT: the port it took, once taken
      if (!pub.hostPort) trace?.(() => publishLine(pub, done.hostPort));
    }
  } catch (e) {
    await teardownNetwork(rec);
    throw e;
  }
  return rec;
}

/** Undo setupNetwork (veth, lease, published ports); what is gone is fine. The bridge and NAT stay, like docker0. */
export async function teardownNetwork(net: NetRecord): Promise<void> {
  if (net.mode !== 'bridge' || !net.hostVeth) return;
  // when PID 1 has just exited the kernel destroys the netns, and with it the
  // veth pair, asynchronously: a link listed a moment ago can vanish before
  // its delete. Gone is what we want, so look again.
  for (let i = 0; ; i++) {
    try {
      await detach({ hostIfname: net.hostVeth });
      return;
    } catch (e) {
      if (i >= 4 || !/Cannot find device/.test((e as Error).message)) throw e;
      await new Promise((r) => setTimeout(r, 20 * (i + 1)));
    }
  }
}
