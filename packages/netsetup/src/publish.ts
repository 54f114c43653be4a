/**
 * `netsetup publish HOSTPORT:CONTAINER_IP:PORT[/tcp|udp]`, like `docker -p`
 * and the CNI portmap plugin: DNAT for traffic to a local address arriving
 * from outside (PREROUTING) and made by the host itself (OUTPUT), plus
 * masquerade for the two cases whose replies would otherwise go astray:
 * localhost clients (with route_localnet on the bridge, and its guard:
 * localnet.ts) and containers on the same bridge reaching a published port
 * (hairpin).
 */
import { BoxkitError, EXIT, UsageError } from '@boxkit/common/errors';
import { contains, netString, parseCidr, parseIp } from './cidr.js';
import { crashPoint } from './crash.js';
import { deleteRules, hasComment, nat, readNat, readTable, remaining, type NatTable } from './iptables.js';
import { needsLocalnet, planLocalnetOff, planLocalnetOn } from './localnet.js';
import { execute, type ExecOptions, type Op } from './ops.js';
import { intentFirst, withNetState, type Intent, type NetState, type PublishRecord } from './state.js';
import { warn } from '@boxkit/common/output';
import { holdsLease, leaseHolder, readAttachments, withStoreLock } from './store.js';
import { linkNames } from './kernel.js';
import { isLocalAddress } from './netlink.js';
import type { AttachmentRecord } from './state.js';

export const DNAT_CHAIN = 'BOXKIT-DNAT';
export const MASQ_CHAIN = 'BOXKIT-PUB-MASQ';
const HOOK = 'boxkit publish hook';

export interface PublishSpec {
  hostPort: number;
  containerIp: string;
  containerPort: number;
  proto: 'tcp' | 'udp';
  hostIp?: string;
}

function port(s: string, what: string): number {
  const n = /^\d{1,5}$/.test(s) ? Number(s) : NaN;
  if (!(n >= 1 && n <= 65535)) throw new UsageError(`invalid ${what} '${s}'`, 'ports are 1-65535');
  return n;
}

/**
 * A host address as publish reads it: 0.0.0.0 is every address (none), as
 * docker -p (and run -p) reads it; builds before 77c14b5 recorded it as given
 * (state in /run outlives an upgrade), so records are read through this too.
 */
const hostIpOf = (h: string | undefined): string | undefined => (h === '0.0.0.0' ? undefined : h);

/** `p` with a host address 0.0.0.0 dropped (every address). */
function normalised(p: PublishSpec): PublishSpec {
  if (p.hostIp !== '0.0.0.0') return p;
  const { hostIp: _, ...rest } = p;
  return rest;
}

/** The record (and rules) a build before 77c14b5 made for `p` on every address: its host address 0.0.0.0. */
const legacyOf = (p: PublishSpec): PublishSpec | undefined => (p.hostIp ? undefined : { ...p, hostIp: '0.0.0.0' });

/**
 * Parse `8080:10.10.15.2:80/tcp` (protocol defaults to tcp). A host address
 * 0.0.0.0 is kept as given: publish() and unpublish() read it as every
 * address (normalised).
 */
export function parsePublish(spec: string, hostIp?: string): PublishSpec {
  const h = hostIp !== undefined ? parseIp(hostIp, 'host address') : undefined;
  const m = /^([^:]+):([^:]+):([^:/]+)(?:\/(\w+))?$/.exec(spec);
  if (!m) throw new UsageError(`invalid port mapping '${spec}'`, 'write HOSTPORT:CONTAINER_IP:PORT[/tcp|udp], e.g. 8080:10.10.15.2:80');
  const proto = (m[4] ?? 'tcp').toLowerCase();
  if (proto !== 'tcp' && proto !== 'udp') throw new UsageError(`invalid protocol '${m[4]}' in '${spec}'`, 'use tcp or udp');
  return {
    hostPort: port(m[1]!, 'host port'), containerIp: parseIp(m[2]!, 'container address'), containerPort: port(m[3]!, 'container port'),
    proto, ...(h !== undefined ? { hostIp: h } : {}),
  };
}

export function publishKey(p: PublishSpec): string {
  return `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}/${p.proto}`;
}

export function publishString(p: PublishSpec): string {
  return `${p.hostIp ? `${p.hostIp}:` : ''}${p.hostPort}:${p.containerIp}:${p.containerPort}/${p.proto}`;
}

const comment = (p: PublishSpec) => `boxkit publish ${publishString(p)}`;
const matches = (c: string) => (x: string) => x === c || x.startsWith(`${c}: `);

/**
 * The container's subnet: its attachment's, or the address alone for an
 * address netsetup does not hand out (outside its bridges, leased by
 * nobody: another runtime's container, a routed host). An address of a
 * netsetup bridge, or a leased one, must be held by a whole attachment
 * (its record completed, its lease its own): a port published to it
 * otherwise outlives (or precedes) the container, and the next container
 * given the address receives it. Read under the store lock, which `down`
 * holds from its look at the published ports to its forget, so a publish
 * is ordered wholly before a `down` of its container (which removes it)
 * or wholly after (refused here). A dry run only warns that a real run
 * would refuse, so the rules can be looked at before the container is
 * attached. The bridge's own address is no container's: always refused
 * (nothing would ever remove the port; a host service needs no DNAT).
 */
function subnetOf(s: NetState, ip: string, dryRun: boolean | undefined): { subnet: string; bridge?: string; port?: AttachmentRecord } {
  const own = Object.values(s.bridges).find((x) => x.cidr.split('/')[0] === ip);
  if (own) {
    throw new BoxkitError('EINVAL', `${ip} is the address of bridge ${own.name}, not of a container`, {
      hint: 'publish to a container attached to it; a service on the host can listen on the host port itself', exitCode: EXIT.USAGE,
    });
  }
  const a = readAttachments().find((x) => x.ip.split('/')[0] === ip && holdsLease(x));
  if (a) return { subnet: netString(parseCidr(a.ip)), bridge: a.bridge, port: a };
  const b = Object.values(s.bridges).find((x) => contains(parseCidr(x.cidr), ip));
  if (b || leaseHolder(ip) !== undefined) {
    const what = `no container is attached at ${ip}${b ? ` (bridge ${b.name})` : ''}`;
    if (dryRun) {
      warn('netsetup', `warning: ${what}: a real run would refuse it`);
      return b ? { subnet: netString(parseCidr(b.cidr)), bridge: b.name } : { subnet: `${ip}/32` };
    }
    throw new BoxkitError('ENOENT', what, {
      hint: 'attach it first (netsetup veth ... --ip ADDRESS), or it was removed (netsetup down)', exitCode: EXIT.USAGE,
    });
  }
  return { subnet: `${ip}/32` };
}

/**
 * Hairpin mode on the container's bridge port, as docker sets it when it
 * publishes without its userland proxy: with br_netfilter, the DNAT of a
 * container reaching its own published port through a host address is
 * made on the bridge, which then must send the frame back out of the port
 * it came in by. On an attachment made without --hairpin it is turned on
 * by publish (the kernel takes a repeat as a no-op) and off again when the
 * last port published to it goes.
 */
const hairpin = (a: AttachmentRecord, on: boolean): Op => ({ kind: 'ip', args: ['link', 'set', a.hostIfname, 'type', 'bridge_slave', 'hairpin', on ? 'on' : 'off'] });

/** The attachment holding `ip` now, if any. */
const holderOf = (ip: string) => readAttachments().find((x) => x.ip.split('/')[0] === ip && holdsLease(x));

/** `filter`: the filter table, read only when route_localnet is needed (its guard is there); `record`: note the sysctl's value before in `s`. */
function planAdd(t: NatTable, filter: NatTable | undefined, s: NetState, p: PublishSpec, subnet: string, bridge: string | undefined, record: boolean): Op[] {
  const ops: Op[] = [{ kind: 'sysctl', key: 'net.ipv4.ip_forward', value: '1' }];
  if (filter && needsLocalnet(p.hostIp, bridge)) ops.push(...planLocalnetOn(s, filter, bridge, record));
  for (const ch of [DNAT_CHAIN, MASQ_CHAIN]) if (!t.chains.has(ch)) ops.push(nat('-N', ch));
  const hooks: [string, string[], string][] = [
    ['PREROUTING', ['-m', 'addrtype', '--dst-type', 'LOCAL'], DNAT_CHAIN],
    ['OUTPUT', ['-m', 'addrtype', '--dst-type', 'LOCAL'], DNAT_CHAIN],
    ['POSTROUTING', [], MASQ_CHAIN],
  ];
  for (const [chain, match, target] of hooks) {
    if (!t.rules.some((r) => r.chain === chain && r.comment === HOOK)) ops.push(nat('-A', chain, ...match, '-m', 'comment', '--comment', HOOK, '-j', target));
  }
  const c = comment(p);
  const pr = ['-p', p.proto, '-m', p.proto];
  const to = `${p.containerIp}:${p.containerPort}`;
  const dst = ['-d', `${p.containerIp}/32`, ...pr, '--dport', String(p.containerPort)];
  const rules: [string, string[]][] = [
    [c, [DNAT_CHAIN, ...(p.hostIp ? ['-d', `${p.hostIp}/32`] : []), ...pr, '--dport', String(p.hostPort), '-m', 'comment', '--comment', c, '-j', 'DNAT', '--to-destination', to]],
    [`${c}: localhost`, [MASQ_CHAIN, '-s', '127.0.0.0/8', ...dst, '-m', 'comment', '--comment', `${c}: localhost`, '-j', 'MASQUERADE']],
    [`${c}: hairpin`, [MASQ_CHAIN, '-s', subnet, ...dst, '-m', 'conntrack', '--ctstate', 'DNAT', '-m', 'comment', '--comment', `${c}: hairpin`, '-j', 'MASQUERADE']],
  ];
  for (const [cm, spec] of rules) if (!hasComment(t, cm)) ops.push(nat('-A', ...spec));
  return ops;
}

/** Ops removing the rules of `specs`, and the hooks and chains when nothing else is published. */
export function planRemove(t: NatTable, specs: readonly PublishSpec[]): Op[] {
  const cs = specs.map(comment);
  return planRemoveWhere(t, (x) => cs.some((c) => matches(c)(x)));
}

const COMMENT = /^boxkit publish ((?:\d+\.\d+\.\d+\.\d+:)?\d+:(\d+\.\d+\.\d+\.\d+):\d+\/(?:tcp|udp))(?:: .*)?$/;

/** The container address a publish rule's comment names (`boxkit publish 8080:10.10.15.2:80/tcp: hairpin`), if it is one. */
export function commentIp(c: string): string | undefined {
  return COMMENT.exec(c)?.[2];
}

/** The mapping a publish rule's comment names (`8080:10.10.15.2:80/tcp`), if it is one. */
export function commentSpec(c: string): string | undefined {
  return COMMENT.exec(c)?.[1];
}

/** Ops removing every publish rule whose mapping is not one of `specs` (the state's entries). */
export function planRemoveUnlisted(t: NatTable, specs: ReadonlySet<string>): Op[] {
  return planRemoveWhere(t, (x) => {
    const spec = commentSpec(x);
    return spec !== undefined && !specs.has(spec);
  });
}

/**
 * Ops removing every publish rule to one of `ips`, found by the address its
 * comment names, whether or not the state lists it (a netsetup killed
 * between its rules and its state write, before publish recorded intent).
 */
export function planRemoveTo(t: NatTable, ips: ReadonlySet<string>): Op[] {
  return planRemoveWhere(t, (x) => ips.has(commentIp(x) ?? ''));
}

/** Ops removing the publish rules whose comment satisfies `match`, and the hooks and chains when nothing else is published. */
function planRemoveWhere(t: NatTable, match: (comment: string) => boolean): Op[] {
  const ops = deleteRules(t, match);
  if (t.chains.has(DNAT_CHAIN) && remaining(t, DNAT_CHAIN, match) === 0 && remaining(t, MASQ_CHAIN, match) === 0) {
    ops.push(...deleteRules(t, (x) => x === HOOK), nat('-X', DNAT_CHAIN));
    if (t.chains.has(MASQ_CHAIN)) ops.push(nat('-X', MASQ_CHAIN));
  }
  return ops;
}

export interface PublishResult extends PublishSpec {
  spec: string;
  changed: boolean;
  /** publish rm: whether its rules or entry were there and removed (false: already gone) */
  removed?: boolean;
  /** publish rm of a mapping already gone: the mapping its host port is published as now (left as it is) */
  hostPortTakenBy?: string;
}

/**
 * Another entry for `p`'s host port: every address (no --host-ip, or a recorded
 * 0.0.0.0) overlaps each single one, and of two DNAT rules for a port the first
 * wins. `p`'s own mapping recorded with 0.0.0.0 is not another.
 */
function overlapping(s: NetState, p: PublishSpec): PublishRecord | undefined {
  return Object.values(s.publish).find((o) => {
    const h = hostIpOf(o.hostIp);
    return o.hostPort === p.hostPort && o.proto === p.proto && (!h || !p.hostIp || h === p.hostIp)
      && o.spec !== publishString(p) && o.spec !== publishString(legacyOf(p) ?? p);
  });
}

/** The `publish rm` arguments that remove `o` (a recorded 0.0.0.0 is every address: no --host-ip). */
const rmArgs = (o: PublishSpec) => {
  const h = hostIpOf(o.hostIp);
  return `${publishString({ ...o, hostIp: undefined })}${h ? ` --host-ip ${h}` : ''}`;
};

/**
 * Publish a container port on the host (idempotent; a different target for the same host port fails).
 * `hostIpChecked`: the caller found `hostIp` to be this host's address already (run, with the start's
 * other checks): it is not asked again.
 */
export async function publish(spec: PublishSpec, opts: ExecOptions & { hostIpChecked?: boolean } = {}): Promise<PublishResult> {
  const p = normalised(spec);
  // a host address that is not this host's: its DNAT rule would never match (docker refuses it: the bind fails)
  if (p.hostIp && !opts.hostIpChecked && !isLocalAddress(p.hostIp)) {
    throw new UsageError(`host address ${p.hostIp} is not an address of this host: nothing sent to it would reach port ${p.hostPort}/${p.proto}`,
      'publish on one of its addresses (ip -4 addr), or on every address: no host address, or 0.0.0.0');
  }
  const publishIn = async (s: NetState, write: boolean) => {
    const key = publishKey(p);
    const old = overlapping(s, p);
    if (old) {
      throw new BoxkitError('EEXIST', `host port ${key} is already published${hostIpOf(old.hostIp) ? ` on ${old.hostIp}` : ''} to ${old.containerIp}:${old.containerPort}`, {
        hint: `netsetup publish rm ${rmArgs(old)}`,
      });
    }
    const { subnet, bridge, port } = subnetOf(s, p.containerIp, opts.dryRun);
    const t = await readNat(opts.dryRun);
    const localnet = needsLocalnet(p.hostIp, bridge) ? bridge : undefined;
    const ops = planAdd(t, localnet ? await readTable('filter', opts.dryRun) : undefined, s, p, subnet, bridge, write);
    if (port && !port.hairpin) ops.push(hairpin(port, true));
    // intent first: the entry (and route_localnet's value before) is written before the rules, so a
    // netsetup killed while it adds them leaves an entry that `down` of the container (or `publish rm`) finds
    const entry: Intent = {
      record: () => {
        s.publish[key] = { spec: publishString(p), ...p, subnet, ...(localnet ? { localnet } : {}) } satisfies PublishRecord;
      },
      // the rules this call added go, then its entry, then route_localnet (when no other port needs it)
      undo: async () => {
        await execute(planRemove(await readNat(), [p]), {}).catch(() => undefined);
        delete s.publish[key];
        await execute(planLocalnetOff(s, await readTable('filter')), {}).catch(() => undefined);
      },
      crashAt: 'publish-recorded',
    };
    await intentFirst(s, write && !s.publish[key] ? entry : undefined, () => execute(ops, opts));
    crashPoint('published');
    return { ...p, spec: publishString(p), changed: ops.some((o) => o.kind === 'ipt') };
  };
  // the store lock, then the state lock, as `down` takes them (subnetOf says why); a dry run takes neither
  return opts.dryRun ? withNetState(opts, publishIn) : withStoreLock(() => withNetState(opts, publishIn));
}

/**
 * Remove a published port; succeeds when it is gone, also when its host port
 * is published to another target since (another container took it): that
 * mapping stays, and a warning names it (`hostPortTakenBy`). Removing what
 * is gone succeeds, as `down` does: a `set -e` teardown relies on it.
 */
export async function unpublish(spec: PublishSpec, opts: ExecOptions = {}): Promise<PublishResult> {
  const p = normalised(spec);
  // on every address: the same mapping recorded by a build before 77c14b5 (as 0.0.0.0) is removed too, by its own key and comments
  const specs = [p, ...(legacyOf(p) ? [legacyOf(p)!] : [])];
  const recorded = (s: NetState) => specs.filter((x) => s.publish[publishKey(x)]?.spec === publishString(x));
  const unpublishIn = async (s: NetState) => {
    const ops = planRemove(await readNat(opts.dryRun), specs);
    const mine = recorded(s);
    // gone, and its host port published to another target since (or on an overlapping address): that one is
    // left as it is, and said (it was refused, exit 1: a teardown's `publish rm` failed for what was gone)
    const other = !ops.length && !mine.length ? overlapping(s, p) : undefined;
    if (other) {
      const on = hostIpOf(other.hostIp);
      warn('netsetup', `warning: ${publishString(p)} was already gone; host port ${p.hostPort}/${p.proto} is published${on ? ` on ${on}` : p.hostIp ? ' on every address' : ''} to ${other.containerIp}:${other.containerPort} now (left as it is)`);
    }
    // the host port may be published to another target: that record stays (a dry run changes a copy, never written)
    for (const x of mine) delete s.publish[publishKey(x)];
    const changed = ops.length > 0;
    const removed = changed || mine.length > 0;
    // the rules first, then route_localnet given back and its guard, when no other port needs them
    ops.push(...planLocalnetOff(s, await readTable('filter', opts.dryRun)));
    // and hairpin mode of the container's port off again when publish turned it on and no port is left to it
    const port = holderOf(p.containerIp);
    if (changed && port && !port.hairpin && linkNames().has(port.hostIfname) && !Object.values(s.publish).some((o) => o.containerIp === p.containerIp)) {
      ops.push(hairpin(port, false));
    }
    await execute(ops, opts);
    return { ...p, spec: publishString(p), changed: ops.length > 0, removed, ...(other ? { hostPortTakenBy: publishString({ ...other, hostIp: hostIpOf(other.hostIp) }) } : {}) };
  };
  return withNetState(opts, unpublishIn);
}
