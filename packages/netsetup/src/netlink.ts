/**
 * The `ip` commands of a plan, sent as rtnetlink requests from this process
 * instead of through `ip -batch` processes: each process cost ~5-7 ms here
 * plus ~5-10 ms of Node forking itself to spawn it, more than the kernel's
 * own work for a whole attachment. The plan stays the description: each
 * request is made from the very argv that --dry-run and -v print, one
 * request per command, in order, stopping at the first refusal (as
 * `ip -batch` does). A stage with a command outside the forms below runs
 * through `ip` as before.
 */
import { closeSync, openSync } from 'node:fs';
import { Attrs, IFLA, ifinfomsg, openRtnl, parseAttrs, RTM, type Rtnl } from '@boxkit/native';
import { parseCidr } from './cidr.js';
import { NETNS_DIR, netnsPath } from './kernel.js';
import type { NsRef, Op } from './ops.js';

type IpOp = Extract<Op, { kind: 'ip' }>;

/** One namespace's socket and what it has looked up. */
interface Ctx {
  nl: Rtnl;
  indexes: Map<string, number>;
}

/** Sockets and namespace fds opened while applying one stage; all closed at the end. */
class Session {
  private readonly ctxs = new Map<string, Ctx>();
  private readonly nsFds = new Map<string, number>();

  nsFd(path: string): number {
    let fd = this.nsFds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.nsFds.set(path, fd);
    }
    return fd;
  }

  ctx(ns?: NsRef): Ctx {
    const path = ns ? netnsPath(ns) : '';
    let c = this.ctxs.get(path);
    if (!c) {
      c = { nl: openRtnl(ns ? { netnsFd: this.nsFd(path) } : {}), indexes: new Map() };
      this.ctxs.set(path, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.ctxs.values()) c.nl.close();
    for (const fd of this.nsFds.values()) closeSync(fd);
  }
}

function index(c: Ctx, name: string, what: string): number {
  let i = c.indexes.get(name);
  if (i === undefined) {
    try {
      i = c.nl.linkIndex(name);
    } catch (e) {
      // name the command that needed the link, as `ip` does ("Cannot find device")
      (e as Error).message = `${what}: cannot find device ${name}`;
      throw e;
    }
    c.indexes.set(name, i);
  }
  return i;
}

/** The path `ip` would use for `netns X`: a name in /run/netns, or a PID. */
function netnsArg(v: string): string {
  return /^\d+$/.test(v) ? `/proc/${v}/ns/net` : `${NETNS_DIR}/${v}`;
}

type Request = (s: Session, c: Ctx, what: string) => void;

function uint(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/** `link add NAME [mtu N] [master BR] [up] type veth peer name P [mtu N] [netns NS]`, `link add NAME type bridge` */
function linkAdd(a: readonly string[]): Request | undefined {
  const name = a[0];
  let i = 1;
  let mtu: number | undefined;
  let master: string | undefined;
  let up = false;
  while (i < a.length && a[i] !== 'type') {
    if (a[i] === 'mtu' && mtu === undefined && uint(a[i + 1]) !== undefined) {
      mtu = uint(a[i + 1]);
      i += 2;
    } else if (a[i] === 'master' && master === undefined && a[i + 1]) {
      master = a[i + 1];
      i += 2;
    } else if (a[i] === 'up' && !up) {
      up = true;
      i += 1;
    } else return undefined;
  }
  if (a[i] !== 'type' || !name) return undefined;
  const kind = a[i + 1];
  i += 2;
  if (kind === 'bridge' && i === a.length && mtu === undefined && master === undefined && !up) {
    return (_s, c, what) => c.nl.addLink({ name, kind: 'bridge' }, what);
  }
  if (kind !== 'veth' || a[i] !== 'peer' || a[i + 1] !== 'name' || !a[i + 2]) return undefined;
  const peer = a[i + 2]!;
  i += 3;
  let peerMtu: number | undefined;
  let netns: string | undefined;
  while (i < a.length) {
    if (a[i] === 'mtu' && uint(a[i + 1]) !== undefined) peerMtu = uint(a[i + 1]);
    else if (a[i] === 'netns' && a[i + 1]) netns = a[i + 1];
    else return undefined;
    i += 2;
  }
  if (peerMtu !== mtu) return undefined; // one MTU for both ends is all netsetup asks for
  return (s, c, what) => c.nl.addVeth({
    name, peer, ...(mtu ? { mtu } : {}), ...(netns ? { peerNetnsFd: s.nsFd(netnsArg(netns)) } : {}),
    ...(master !== undefined ? { master: index(c, master, what) } : {}), ...(up ? { up } : {}),
  }, what);
}

/**
 * `link add H type veth ...` followed by `link set H master BR`, `link set H
 * up` (and a hairpin setting): the article's order, as --dry-run and `ip
 * -batch` run them, but one request here: the kernel enslaves and brings up
 * a link as it creates it (`ip link add H master BR up type veth ...`), two
 * round trips fewer per attachment. Only the run of ops about H right
 * after its creation is folded in; a hairpin setting keeps its own request,
 * after the link is enslaved.
 */
export function foldVethSetup(ops: readonly IpOp[]): { op: IpOp; args: readonly string[] }[] {
  const out: { op: IpOp; args: readonly string[] }[] = [];
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i]!;
    const a = op.args;
    const t = a.indexOf('type');
    if (a[0] !== 'link' || a[1] !== 'add' || a[t + 1] !== 'veth' || a.slice(3, t).some((w) => w === 'master' || w === 'up')) {
      out.push({ op, args: a });
      continue;
    }
    const name = a[2];
    const extra: string[] = [];
    const kept: IpOp[] = [];
    let j = i + 1;
    for (; j < ops.length; j++) {
      const b = ops[j]!;
      if (b.ns !== op.ns || b.args[0] !== 'link' || b.args[1] !== 'set' || b.args[2] !== name) break;
      if (b.args.length === 5 && b.args[3] === 'master' && !extra.includes('master')) extra.push('master', b.args[4]!);
      else if (b.args.length === 4 && b.args[3] === 'up' && !extra.includes('up')) extra.push('up');
      else if (b.args[3] === 'type' && b.args[4] === 'bridge_slave') kept.push(b);
      else break;
    }
    out.push({ op, args: [...a.slice(0, t), ...extra, ...a.slice(t)] }, ...kept.map((k) => ({ op: k, args: k.args })));
    i = j - 1;
  }
  return out;
}

/** `link set [dev] NAME up|down|master BR|group N|type bridge_slave hairpin on|off` */
function linkSet(a: readonly string[]): Request | undefined {
  const rest = a[0] === 'dev' ? a.slice(1) : a;
  const name = rest[0];
  if (!name) return undefined;
  const [k, v, w, x] = rest.slice(1);
  if (rest.length === 2 && (k === 'up' || k === 'down')) {
    return (_s, c, what) => c.nl.setLink({ name, up: k === 'up' }, what);
  }
  if (rest.length === 3 && k === 'master' && v) return (_s, c, what) => c.nl.setLink({ name, master: index(c, v, what) }, what);
  if (rest.length === 3 && k === 'group' && uint(v) !== undefined) return (_s, c, what) => c.nl.setLink({ name, group: uint(v) }, what);
  if (rest.length === 5 && k === 'type' && v === 'bridge_slave' && w === 'hairpin' && (x === 'on' || x === 'off')) {
    return (_s, c, what) => c.nl.setHairpin(name, x === 'on', what);
  }
  return undefined;
}

/** The request for one `ip` argv, or undefined when it is not one of the forms netsetup writes. */
export function translate(args: readonly string[]): Request | undefined {
  const [obj, verb, ...a] = args;
  if (obj === 'link' && verb === 'add') return linkAdd(a);
  if (obj === 'link' && verb === 'set') return linkSet(a);
  if (obj === 'link' && (verb === 'del' || verb === 'delete')) {
    if (a.length === 2 && a[0] === 'group' && uint(a[1]) !== undefined) return (_s, c, what) => c.nl.delGroup(uint(a[1])!, what);
    const name = a.length === 2 && a[0] === 'dev' ? a[1] : a.length === 1 ? a[0] : undefined;
    if (!name) return undefined;
    return (_s, c, what) => {
      c.nl.delLink(name, what);
      c.indexes.delete(name);
    };
  }
  if (obj === 'addr' && verb === 'add' && a.length === 3 && a[1] === 'dev') {
    let cidr;
    try {
      cidr = parseCidr(a[0]!);
    } catch {
      return undefined;
    }
    return (_s, c, what) => c.nl.addAddr4(index(c, a[2]!, what), cidr.ip, cidr.prefix, what);
  }
  if (obj === 'route' && verb === 'add' && a.length === 5 && a[0] === 'default' && a[1] === 'via' && a[3] === 'dev') {
    return (_s, c, what) => c.nl.addRoute4({ gateway: a[2]!, oif: index(c, a[4]!, what) }, what);
  }
  return undefined;
}

const RTEXT_FILTER_SKIP_STATS = 1 << 3;
const ENODEV = 19;

/** The group of each link in RTM_GETLINK replies (ifinfomsg, then attributes), by name. */
export function groupsOf(replies: readonly Buffer[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of replies) {
    const a = parseAttrs(m.subarray(16));
    const name = a.get(IFLA.IFNAME)?.toString().replace(/\0.*$/s, '');
    const group = a.get(IFLA.GROUP);
    if (name && group && group.length >= 4) out.set(name, group.readUInt32LE(0));
  }
  return out;
}

/**
 * The link group (`ip -d link`'s "group", 0 "default") of each of `names`
 * that exists in this process's namespace: one RTM_GETLINK per name, its
 * statistics left out (a dump of every link would cost with the host's
 * link count), through netlink even with BOXKIT_NETLINK=0 since it changes
 * nothing. ~0.3 ms a link here: for when sysfs, read in ~15 us a link
 * (kernel.ts's sysfsLinkGroups), is another namespace's.
 */
export function linkGroups(names: readonly string[]): Map<string, number> {
  const nl = openRtnl();
  try {
    const replies: Buffer[] = [];
    for (const name of names) {
      try {
        replies.push(...nl.request(RTM.GETLINK, 0, ifinfomsg({}, new Attrs().str(IFLA.IFNAME, name).u32(IFLA.EXT_MASK, RTEXT_FILTER_SKIP_STATS)), `ip -d link show ${name}`));
      } catch (e) {
        if ((e as { errno?: number }).errno !== ENODEV) throw e; // (gone: no group to keep)
      }
    }
    return groupsOf(replies);
  } finally {
    nl.close();
  }
}

const RTM_GETROUTE = 26, AF_INET = 2, RTA_DST = 1, RTN_LOCAL = 2;

/**
 * Whether packets to `ip` (IPv4) are delivered to this host (its network
 * namespace): the route the kernel gives it (`ip route get IP`, one
 * RTM_GETROUTE) is of type local, as for its own addresses (127.0.0.5 too,
 * and a `local` route's range). That is what `-m addrtype --dst-type LOCAL`
 * (publish's hook) and bind(2) (docker -p) ask of it. Unreachable (no route,
 * a blackhole or prohibit route) is not local. Through netlink even with
 * BOXKIT_NETLINK=0: it changes nothing, and needs no privilege.
 */
export function isLocalAddress(ip: string): boolean {
  const nl = openRtnl();
  try {
    const h = Buffer.alloc(12); // struct rtmsg
    h.writeUInt8(AF_INET, 0);
    h.writeUInt8(32, 1);
    const [reply] = nl.request(RTM_GETROUTE, 0, Buffer.concat([h, new Attrs().ip4(RTA_DST, ip).buffer()]), `ip route get ${ip}`);
    return !!reply && reply.length >= 12 && reply.readUInt8(7) === RTN_LOCAL;
  } catch (e) {
    // ENETUNREACH, EHOSTUNREACH, EACCES (prohibit), EINVAL (blackhole): no route to it, so not this host's
    if ([101, 113, 13, 22].includes((e as { errno?: number }).errno ?? 0)) return false;
    throw e;
  } finally {
    nl.close();
  }
}

/** Whether netlink is used (BOXKIT_NETLINK=0 sends every command through `ip`, to compare). */
export function netlinkEnabled(): boolean {
  return process.env.BOXKIT_NETLINK !== '0';
}

/**
 * Apply `ip` ops (host or container namespaces) as netlink requests, in
 * order. Returns false, having done nothing, when any op has no netlink form.
 */
export function applyNetlink(ops: readonly IpOp[], render: (op: IpOp) => string): boolean {
  if (!netlinkEnabled()) return false;
  const folded = foldVethSetup(ops);
  const reqs: Request[] = [];
  for (const f of folded) {
    const r = translate(f.args);
    if (!r) return false;
    reqs.push(r);
  }
  const s = new Session();
  let i = 0;
  try {
    for (; i < folded.length; i++) {
      const f = folded[i]!;
      reqs[i]!(s, s.ctx(f.op.ns), f.args === f.op.args ? render(f.op) : render({ ...f.op, args: [...f.args] }));
    }
  } catch (e) {
    // the requests before the refused one were made: their ops, for the caller's undo (ops.ts linksAdded)
    throw Object.assign(e as object, { applied: folded.slice(0, i).map((f) => f.op) });
  } finally {
    s.close();
  }
  return true;
}
