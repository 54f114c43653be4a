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
import { openRtnl, type Rtnl } from '@boxkit/native';
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

/** `link add NAME [mtu N] type veth peer name P [mtu N] [netns NS]`, `link add NAME type bridge` */
function linkAdd(a: readonly string[]): Request | undefined {
  const name = a[0];
  let i = 1;
  let mtu: number | undefined;
  if (a[i] === 'mtu') {
    mtu = uint(a[i + 1]);
    if (mtu === undefined) return undefined;
    i += 2;
  }
  if (a[i] !== 'type' || !name) return undefined;
  const kind = a[i + 1];
  i += 2;
  if (kind === 'bridge' && i === a.length && mtu === undefined) {
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
  return (s, c, what) => c.nl.addVeth({ name, peer, ...(mtu ? { mtu } : {}), ...(netns ? { peerNetnsFd: s.nsFd(netnsArg(netns)) } : {}) }, what);
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
  const reqs: Request[] = [];
  for (const op of ops) {
    const r = translate(op.args);
    if (!r) return false;
    reqs.push(r);
  }
  const s = new Session();
  try {
    ops.forEach((op, i) => reqs[i]!(s, s.ctx(op.ns), render(op)));
  } finally {
    s.close();
  }
  return true;
}
