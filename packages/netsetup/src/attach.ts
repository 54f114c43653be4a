/**
 * `netsetup veth`: connect a container's network namespace to a bridge.
 * The peer is created directly inside the target namespace (`ip link add H
 * type veth peer name eth0 netns NS`: ~0.5 ms, where moving a link with
 * `link set X netns NS` costs ~16 ms here), then addressed and routed there.
 * Host-side names are derived from the namespace's inode and the interface
 * name, so concurrent calls never collide and a repeated call finds its link.
 */
import { isoTime } from '@boxkit/common/time';
import { BoxkitError, describeError, errorCode, EXIT, UsageError } from '@boxkit/common/errors';
import { mark } from '@boxkit/common/phases';
import { validateIfName } from '@boxkit/common/validate';
import { contains, formatCidr, netString, parseCidr, parseHostCidr, parseIp } from './cidr.js';
import { bridgeCidr } from './bridge.js';
import { crashPoint } from './crash.js';
import { hashHex } from '@boxkit/common/hash';
import { linkNames, listLinks, newIfName, nsInode, nsRef, ownNetnsInode, sysfsIsHere, sysfsMaster } from './kernel.js';
import { allocate, checkFree, leaseExplicit, peek } from './ipam.js';
import { execute, linksAdded, type ExecOptions, type NsRef, type Op } from './ops.js';
import { readState, type AttachmentRecord, type NetState } from './state.js';
import { claimAttachment, forget, inProgress, readAttachment, releaseLease, removeAttachment, sameRecord, withStoreLock, writeAttachment } from './store.js';
import type { AttachSpec } from './spec.js';

export { parseSpecLine, type AttachSpec } from './spec.js';

export interface Attachment {
  hostIfname: string;
  ifname: string;
  netns?: string;
  pid?: number;
  bridge: string;
  ip: string;
  gateway?: string;
  mtu?: number;
  hairpin: boolean;
  /** false when the attachment already existed (idempotent repeat) */
  created: boolean;
  /** a repeat that put the host end back on its bridge (it was no longer a port of it) */
  rejoined?: true;
}

interface Resolved {
  spec: AttachSpec;
  ns: NsRef;
  inode: number;
  ifname: string;
  hostIfname: string;
  bridgeCidr: string;
  ip?: string;
  gateway?: string;
  mtu?: number;
  hairpin: boolean;
}

export function deriveHostIfname(inode: number, ifname: string): string {
  return `bk${hashHex(`${inode}:${ifname}`).slice(0, 11)}`;
}

/**
 * The address of the bridge `veth` attaches to, or the error it gives when
 * there is no such link or it has no IPv4 address. Exported so a dry run
 * (`run --dry-run`) can refuse exactly what the real attach refuses.
 */
export async function attachableBridge(name: string, links: Set<string> = linkNames(), state: () => NetState = readState): Promise<string> {
  // the recorded address saves an `ip addr` process when the bridge is there
  const c = links.has(name) ? (state().bridges[name]?.cidr ?? (await bridgeCidr(name))) : undefined;
  if (!c) throw new UsageError(`unknown bridge '${name}' (or it has no IPv4 address)`, `create it first: netsetup bridge ${name} 10.10.15.1/24`);
  return c;
}

async function resolve(spec: AttachSpec, bridges: Map<string, string>, links: Set<string>, state: () => NetState): Promise<Resolved> {
  const ns = nsRef(spec.netns, spec.pid);
  const ifname = newIfName(spec.ifname ?? 'eth0');
  if (!spec.bridge) throw new UsageError('a bridge is required: --bridge NAME');
  validateIfName(String(spec.bridge));
  if (spec.hostIfname !== undefined) newIfName(spec.hostIfname);
  if (spec.mtu !== undefined && !(Number.isInteger(spec.mtu) && spec.mtu >= 68 && spec.mtu <= 65535)) {
    throw new UsageError(`invalid mtu '${spec.mtu}'`, 'an integer from 68 to 65535');
  }
  const ipArg = spec.ip ?? 'auto';
  const ip = ipArg === 'auto' ? undefined : formatCidr(parseHostCidr(ipArg, 'address (--ip)'));
  // `none`: no default route, for a second interface (CNI's isDefaultGateway false); the first keeps its own
  const noRoute = spec.gateway === 'none';
  const gw = spec.gateway !== undefined && !noRoute ? parseIp(spec.gateway, 'gateway') : undefined;
  const inode = nsInode(ns);
  // a host process's PID (or a name bound to the host's namespace) would put eth0, an address and a default route on the host
  if (inode === ownNetnsInode()) {
    throw new UsageError(`${'netns' in ns ? `netns '${ns.netns}'` : `pid ${ns.pid}`} is in the host's own network namespace`, 'attach a container: a process in a network namespace of its own (ns-clone --net) or a named netns');
  }
  if (!bridges.has(spec.bridge)) bridges.set(spec.bridge, await attachableBridge(spec.bridge, links, state));
  const brCidr = bridges.get(spec.bridge)!;
  const net = parseCidr(ip ?? brCidr);
  if (gw !== undefined && !contains(net, gw)) {
    throw new UsageError(`gateway ${gw} is outside ${net.network}/${net.prefix}`, 'the gateway must be on the container\'s subnet (usually the bridge address)');
  }
  // a default route via the container's own address, or the subnet's network or broadcast address, reaches nothing
  if (gw !== undefined) {
    if (ip && ip.split('/')[0] === gw) {
      throw new UsageError(`gateway ${gw} is the container's own address (--ip ${ip})`, 'the gateway is another host of its subnet, usually the bridge address');
    }
    parseHostCidr(`${gw}/${net.prefix}`, 'gateway');
  }
  const brIp = brCidr.split('/')[0]!;
  // an address off the bridge's subnet would get no default route, silently: the user says which one (or none)
  if (!noRoute && gw === undefined && !contains(net, brIp)) {
    throw new UsageError(`address ${ip} is not on bridge ${spec.bridge}'s subnet (${brCidr}): it would get no default route`,
      `use an address of ${netString(parseCidr(brCidr))}, or give --gateway IP (on its subnet) or --gateway none`);
  }
  const gateway = noRoute ? undefined : (gw ?? brIp);
  return {
    spec, ns, inode, ifname, bridgeCidr: brCidr, hairpin: !!spec.hairpin,
    hostIfname: spec.hostIfname ?? deriveHostIfname(inode, ifname),
    ...(ip ? { ip } : {}), ...(gateway ? { gateway } : {}), ...(spec.mtu ? { mtu: spec.mtu } : {}),
  };
}

/**
 * A namespace has one default route: a second interface given one too
 * (the kernel refuses it, EEXIST, once its links are made) is refused
 * before anything is made, exit 2: two lines of a batch for one namespace,
 * or an interface other than eth0 where netsetup's eth0 of that namespace
 * (the host name derived from it: one record read, and only off the usual
 * path) has one. Any other case (a default route made by hand, an eth0
 * after another interface) is the kernel's refusal, undone and worded the
 * same way (defaultRouteTaken): reading the namespace's routes or every
 * record would cost each `veth` a request or a file per container.
 */
function oneDefaultRoute(resolved: readonly Resolved[], links: Set<string>): void {
  const first = new Map<number, Resolved>();
  for (const r of resolved) {
    if (!r.gateway) continue;
    const other = first.get(r.inode);
    if (other) throw defaultRouteTaken(r.ns, r.ifname, `${other.ifname} of this batch gets one (via ${other.gateway})`, true);
    first.set(r.inode, r);
    if (r.ifname === 'eth0') continue;
    const eth0 = readAttachment(deriveHostIfname(r.inode, 'eth0'));
    if (eth0?.gateway && eth0.ip && eth0.nsInode === r.inode && links.has(eth0.hostIfname)) {
      throw defaultRouteTaken(r.ns, r.ifname, `eth0 has one (via ${eth0.gateway}, attached by netsetup as ${eth0.hostIfname})`, true);
    }
  }
}

/** The refusal of a second default route in `ns`, for `ifname`: exit 2 before anything is made, or 1 (the kernel's). */
function defaultRouteTaken(ns: NsRef, ifname: string, why: string, usage: boolean): BoxkitError {
  const where = 'netns' in ns ? `netns ${ns.netns}` : `pid ${ns.pid}`;
  return new BoxkitError('EEXIST', `${where} ${ifname}: a namespace has one default route, and ${why}`, {
    hint: `attach ${ifname} without one: --gateway none (in a JSON line: "gateway":"none")`, ...(usage ? { exitCode: EXIT.USAGE } : {}),
  });
}

function nsTarget(ns: NsRef): string {
  return 'netns' in ns ? ns.netns : String(ns.pid);
}

/** The ops for one new attachment: host side first, container side second. */
export function attachOps(r: Resolved & { ip: string }): { host: Op[]; inside: Op[] } {
  const mtu = r.mtu ? ['mtu', String(r.mtu)] : [];
  const host: Op[] = [
    { kind: 'ip', args: ['link', 'add', r.hostIfname, ...mtu, 'type', 'veth', 'peer', 'name', r.ifname, ...mtu, 'netns', nsTarget(r.ns)] },
    { kind: 'ip', args: ['link', 'set', r.hostIfname, 'master', r.spec.bridge] },
    ...(r.hairpin ? [{ kind: 'ip', args: ['link', 'set', r.hostIfname, 'type', 'bridge_slave', 'hairpin', 'on'] } as Op] : []),
    { kind: 'ip', args: ['link', 'set', r.hostIfname, 'up'] },
  ];
  const inside: Op[] = [
    { kind: 'ip', ns: r.ns, args: ['link', 'set', 'lo', 'up'] },
    { kind: 'ip', ns: r.ns, args: ['addr', 'add', r.ip, 'dev', r.ifname] },
    { kind: 'ip', ns: r.ns, args: ['link', 'set', r.ifname, 'up'] },
    ...(r.gateway ? [{ kind: 'ip', ns: r.ns, args: ['route', 'add', 'default', 'via', r.gateway, 'dev', r.ifname] } as Op] : []),
  ];
  return { host, inside };
}

/**
 * The ops putting an attachment's host end back on its bridge, as attachOps made it (hairpin and up again: a released port
 * keeps neither for sure). Hairpin also when a port is published to its address: publish turned it on (publish.ts hairpin).
 */
function rejoinOps(a: AttachmentRecord, state: () => NetState): Op[] {
  const ip = a.ip.split('/')[0];
  const hairpin = a.hairpin || Object.values(state().publish).some((p) => p.containerIp === ip);
  return [
    { kind: 'ip', args: ['link', 'set', a.hostIfname, 'master', a.bridge] },
    ...(hairpin ? [{ kind: 'ip', args: ['link', 'set', a.hostIfname, 'type', 'bridge_slave', 'hairpin', 'on'] } as Op] : []),
    { kind: 'ip', args: ['link', 'set', a.hostIfname, 'up'] },
  ];
}

function toAttachment(a: AttachmentRecord, created: boolean): Attachment {
  return {
    hostIfname: a.hostIfname, ifname: a.ifname, ...(a.netns ? { netns: a.netns } : {}), ...(a.pid ? { pid: a.pid } : {}),
    bridge: a.bridge, ip: a.ip, ...(a.gateway ? { gateway: a.gateway } : {}), ...(a.mtu ? { mtu: a.mtu } : {}), hairpin: a.hairpin, created,
  };
}

/**
 * What a repeated `veth` asks for that the existing attachment does not
 * have, each as `mtu 1400, not 1300` (the attachment's, then the asked
 * value; empty: an idempotent repeat). `--ip auto` accepts the address it
 * has; every other setting must match, an omitted one meaning its default
 * (no --mtu: the kernel's, no --gateway: the bridge address).
 */
export function settingDiffs(a: AttachmentRecord, r: Resolved): string[] {
  const out: string[] = [];
  const diff = (what: string, there: unknown, asked: unknown) => {
    if (there !== asked) out.push(`${what} ${there ?? 'default'}, not ${asked ?? 'default'}`);
  };
  // an explicit --host-ifname names the attachment: it may have been made for another target
  if (a.nsInode !== r.inode) out.push(`namespace ${a.netns ?? `of pid ${a.pid}`}, not ${'netns' in r.ns ? r.ns.netns : `of pid ${r.ns.pid}`}`);
  diff('ifname', a.ifname, r.ifname);
  diff('bridge', a.bridge, r.spec.bridge);
  if (r.ip) diff('ip', a.ip, r.ip);
  diff('gateway', a.gateway ?? 'none', r.gateway ?? 'none');
  diff('mtu', a.mtu, r.mtu);
  diff('hairpin', a.hairpin ? 'on' : 'off', r.hairpin ? 'on' : 'off');
  return out;
}

/**
 * Attach many containers in one go: validate all, claim records and
 * addresses (exclusive file creates, no lock), then one host `ip -batch -`
 * and one `ip -batch -` per namespace. On failure everything this call
 * created is removed and its leases freed.
 */
export async function attachMany(specs: readonly AttachSpec[], opts: ExecOptions = {}): Promise<Attachment[]> {
  const bridges = new Map<string, string>();
  let links = linkNames();
  // state.json is read once per call (the bridges' addresses and IPAM both need it)
  let stateRead: NetState | undefined;
  const state = () => (stateRead ??= readState());
  const resolved: Resolved[] = [];
  for (const s of specs) resolved.push(await resolve(s, bridges, links, state));
  mark('resolved');
  const seen = new Set<string>();
  for (const r of resolved) {
    if (seen.has(r.hostIfname)) throw new UsageError(`two attachments for ${r.spec.netns ?? `pid ${r.spec.pid}`} ${r.ifname} in one batch`);
    seen.add(r.hostIfname);
  }
  oneDefaultRoute(resolved, links);
  const seenLeases: { taken?: Set<string> } = {};
  let ports: Map<string, { master?: string }> | undefined;
  let sysfsHere: boolean | undefined;
  const rejoin: Op[] = [];
  const fresh: Fresh[] = [];
  const results: Attachment[] = [];
  try {
    for (const r of resolved) {
      const old = readAttachment(r.hostIfname);
      // a record whose link we did not see may be another call's, finished since our look: look again
      if (old && !links.has(r.hostIfname)) links = linkNames();
      // a pending record with its link: made by a netsetup still at work, or killed before it finished (stale, below)
      if (old && old.ip && links.has(r.hostIfname)) {
        const again = repeatOf(old, r);
        // still a port of its bridge? A bridge deleted and made again by hand (`ip link del`, `netsetup bridge`)
        // lost it, and "already there" left the container cut off: enslaved again. A readlink in sysfs, on a repeat
        // only (an `ip` read when that sysfs is another namespace's).
        const master = (sysfsHere ??= sysfsIsHere(links)) ? sysfsMaster(r.hostIfname) : (ports ??= await listLinks()).get(r.hostIfname)?.master;
        if (master !== old.bridge) {
          rejoin.push(...rejoinOps(old, state));
          again.rejoined = true;
        }
        results.push(again);
        continue;
      }
      if (!old && links.has(r.hostIfname)) throw new BoxkitError('EEXIST', `link ${r.hostIfname} exists and was not made by netsetup`, { hint: 'choose another --host-ifname' });
      if (opts.dryRun) {
        // what the batch's earlier lines would lease is taken too, as in a real run (no lease is made here)
        const planned = new Map(fresh.map((f) => [f.ip.split('/')[0]!, f.hostIfname]));
        const by = r.ip && planned.get(r.ip.split('/')[0]!);
        if (by) throw new UsageError(`address ${r.ip!.split('/')[0]} is already in use by ${by}`, 'use --ip auto or another address');
        const ip = r.ip ?? peek(state(), r.bridgeCidr, r.gateway, new Set(planned.keys()));
        if (r.ip) checkFree(state(), r.ip);
        fresh.push({ ...r, ip });
        results.push(toAttachment(attachmentRecord(r, ip), true));
        continue;
      }
      results.push(await claimOne(r, old, fresh, state, seenLeases));
    }
  } catch (e) {
    if (!opts.dryRun) undoClaims(fresh);
    throw e;
  }
  const host: Op[] = [...rejoin];
  const inside: Op[] = [];
  for (const f of fresh) {
    const o = attachOps(f);
    host.push(...o.host);
    inside.push(...o.inside);
  }
  if (!opts.dryRun) crashPoint('leased');
  mark('leased');
  let executed = false;
  try {
    await execute([...host, ...inside], opts);
    executed = true;
    mark('made');
    if (!opts.dryRun) {
      crashPoint('made');
      for (const f of fresh) writeAttachment(attachmentRecord(f, f.ip));
    }
    mark('recorded');
  } catch (e) {
    // (after the requests, every link was made; a failed execute says which it made, when it knows)
    if (!opts.dryRun) throw await undoFailedAttach(fresh, e, executed ? undefined : linksAdded(e));
    throw e;
  }
  return results;
}

type Fresh = Resolved & { ip: string; holder?: string };

/**
 * Claim the attachment `r` (`old`: its record as read, if any) and its
 * address. The record comes first, then the lease, then (the caller) the
 * kernel objects, then the record is completed: a netsetup killed at any
 * point leaves a record that `down` (by host ifname, netns or pid) finds,
 * and through it the lease and the link. A pending record (ip '') finds its
 * lease by the holder line; a repeated `veth` remakes what it left. The
 * claim goes into `fresh` as soon as it is made, so that the caller's undo
 * finds it whatever fails next. When another netsetup finished the same
 * attachment meanwhile, that one is the answer (an idempotent repeat).
 */
async function claimOne(r: Resolved, old: AttachmentRecord | undefined, fresh: Fresh[], state: () => NetState, seenLeases: { taken?: Set<string> }): Promise<Attachment> {
  const holder = `${r.hostIfname} ${process.pid}`;
  for (let attempt = 0; ; attempt++) {
    if (old && inProgress(old)) {
      throw new BoxkitError('EBUSY', `${r.hostIfname}: another netsetup (pid ${old.owner}) is attaching ${old.netns ?? `pid ${old.pid}`} right now`, { hint: 'try again when it is done' });
    }
    // stale: its namespace (and so its veth) is gone, or its netsetup was killed part-way
    if (old ? await replaceStale(old, attachmentRecord(r, '')) : claimAttachment(attachmentRecord(r, ''))) break;
    old = readAttachment(r.hostIfname); // lost the race for this attachment
    // the winner finished meanwhile: an idempotent repeat
    if (old && old.ip && linkNames().has(r.hostIfname)) return repeatOf(old, r);
    if (attempt > 0 || !old) throw new BoxkitError('EBUSY', `${r.hostIfname}: another netsetup is attaching it right now`, { hint: 'try again when it is done' });
  }
  const f: Fresh = { ...r, ip: '', holder };
  fresh.push(f);
  crashPoint('claimed');
  if (r.ip) leaseExplicit(state(), r.ip, holder);
  f.ip = r.ip ?? allocate(state(), r.bridgeCidr, holder, seenLeases, r.gateway);
  return toAttachment(attachmentRecord(r, f.ip), true);
}

/**
 * After the kernel objects of `fresh` could not all be made (error `e`):
 * the links this batch made go (`added`: their names, when known; else
 * every link of `fresh` that exists), then the claims. A link of that name
 * that this batch did not make (another process's, made between our look
 * and our `link add`, which it made fail) is not ours: neither deleted nor
 * named as kept. A link that could not be deleted keeps its pending record
 * and its lease, as a kill at 'leased' leaves them, so `down` (by netns,
 * pid or host ifname) finds all three: freed, the address would go to
 * another container while this link may hold it, and no record would lead
 * `down --netns` to the link. Returns the error to throw: `e`, naming the
 * links left when there are any.
 */
async function undoFailedAttach(fresh: readonly Fresh[], e: unknown, added?: ReadonlySet<string>): Promise<unknown> {
  const { removeLinks } = await import('./detach.js');
  const ours = added ? fresh.filter((f) => added.has(f.hostIfname)) : fresh;
  await removeLinks(ours.map((f) => f.hostIfname), linkNames()).catch(() => undefined);
  const left = linkNames();
  const kept = ours.filter((f) => left.has(f.hostIfname)).map((f) => f.hostIfname);
  undoClaims(fresh.filter((f) => !kept.includes(f.hostIfname)));
  // the namespace had a default route already (made by hand, or by netsetup for another interface): said so, with the way out
  // (through netlink the request is named; through `ip -n NS -batch -` (BOXKIT_NETLINK=0) only the namespace: in a batch of
  // new links there, EEXIST is the route, of its one line with a gateway: oneDefaultRoute)
  const msg = e instanceof Error && !kept.length ? e.message : '';
  const taken = / route add default via (\S+) dev (\S+): .*(?:file exists|EEXIST)/i.exec(msg);
  const inNs = /^(?:ip -n (\S+)|nsenter --net=\/proc\/(\d+)\/ns\/net ip) -batch -: RTNETLINK answers: File exists$/.exec(msg);
  const f = taken ? fresh.find((x) => x.gateway === taken[1] && x.ifname === taken[2])
    : inNs ? fresh.find((x) => x.gateway && nsTarget(x.ns) === (inNs[1] ?? inNs[2])) : undefined;
  if (f) return defaultRouteTaken(f.ns, f.ifname, 'it has one already (the kernel refused this one); nothing was made', false);
  // named whatever failed: a state write refused (a full /run: Node's error, not boxkit's) said 'no space left on
  // device, write' alone, with no word of the link kept nor of the down that removes it
  if (kept.length && e instanceof Error) {
    const d = describeError(e);
    const err = new BoxkitError(errorCode(e), `${d.message} (and ${kept.join(', ')} could not be deleted)`, { cause: e, exitCode: d.exitCode, hint: `netsetup down --host-ifname ${kept.join(' --host-ifname ')}` });
    return Object.assign(err, { kept });
  }
  return e;
}

/**
 * The host links an attach's undo could not delete, carried by its error:
 * each kept with its pending record and lease, for `down` (undoFailedAttach).
 */
export function keptLinks(e: unknown): readonly string[] {
  return (e instanceof Error && (e as { kept?: string[] }).kept) || [];
}

/** The attachment that is there, for a repeat with the same settings (EEXIST when they differ). */
function repeatOf(old: AttachmentRecord, r: Resolved): Attachment {
  const diffs = settingDiffs(old, r);
  if (diffs.length) {
    throw new BoxkitError('EEXIST', `${r.hostIfname} already attaches ${old.netns ?? `pid ${old.pid}`} ${old.ifname} with other settings: ${diffs.join('; ')}`, {
      hint: `netsetup down --host-ifname ${r.hostIfname} first, or repeat it with the same settings`,
    });
  }
  return toAttachment(old, false);
}

/**
 * Remove the stale attachment `old` (its owner is dead: its link gone, or
 * left pending by a kill, link or not) and claim its host name with `fresh`,
 * only while its record is still `old`, under the store lock: true when
 * claimed. Two repeats of one `veth` both read the stale record; the second
 * to get here finds the first's claim and removes nothing of it.
 */
async function replaceStale(old: AttachmentRecord, fresh: AttachmentRecord): Promise<boolean> {
  return withStoreLock(async () => {
    const cur = readAttachment(old.hostIfname);
    if (cur && !sameRecord(cur, old)) return false;
    if (cur) {
      const links = linkNames();
      if (links.has(cur.hostIfname) && cur.ip) return false; // whole, with its link: not stale
      const { removeLinks, unpublishTo } = await import('./detach.js');
      // its published ports went with the container: left, the next holder of the address would
      // receive them. They go first, the link inside that step (as in `down`): a nat table that
      // cannot be read or changed fails this veth with the stale attachment as it was
      await unpublishTo([cur], {}, async () => {
        if (links.has(cur.hostIfname)) await removeLinks([cur.hostIfname], links);
      });
      forget(cur);
    }
    return claimAttachment(fresh);
  });
}

function attachmentRecord(r: Resolved, ip: string): AttachmentRecord {
  return {
    hostIfname: r.hostIfname, ifname: r.ifname, ...('netns' in r.ns ? { netns: r.ns.netns } : { pid: r.ns.pid }),
    nsInode: r.inode, bridge: r.spec.bridge, ip, ...(r.gateway ? { gateway: r.gateway } : {}), auto: !r.ip,
    ...(r.mtu ? { mtu: r.mtu } : {}), hairpin: r.hairpin, created: isoTime(), owner: process.pid,
  };
}

function undoClaims(fresh: readonly Fresh[]): void {
  for (const f of fresh) {
    if (f.ip) releaseLease(f.ip.split('/')[0]!, f.holder);
    removeAttachment(f.hostIfname);
  }
}

/** Attach one container (see attachMany). */
export async function attach(spec: AttachSpec, opts: ExecOptions = {}): Promise<Attachment> {
  const [a] = await attachMany([spec], opts);
  return a!;
}

