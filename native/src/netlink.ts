/**
 * rtnetlink (NETLINK_ROUTE) from TypeScript: the requests `ip link/addr/route`
 * send, built in a Buffer and sent on a netlink socket through koffi, so a
 * tool changes links without starting an `ip` process (~5-7 ms each here,
 * plus Node's fork to spawn it). Every call is synchronous: the kernel
 * handles a route request inside send() and queues its ACK before send
 * returns, so recv() never waits for the network.
 *
 * A socket works in the network namespace it was created in, for its whole
 * life. `openRtnl({ netnsFd })` creates one inside another namespace by
 * setns(CLONE_NEWNET) on the calling thread, socket(), and setns back: only
 * the calling thread switches (as the CNI plugins do with a locked OS
 * thread), and nothing else runs on it in between.
 */
import { closeSync, openSync } from 'node:fs';
import { koffi, libcTable } from './lib.js';
import { SysError, strerror } from './errors.js';
import { CLONE } from './constants.js';

type Fn = (...args: unknown[]) => number;
const fns = libcTable<{ socket: Fn; send: Fn; recv: Fn; setsockopt: Fn; setns: Fn; close: Fn }>({
  socket: 'int socket(int domain, int type, int protocol)',
  send: 'intptr_t send(int fd, const void *buf, size_t len, int flags)',
  recv: 'intptr_t recv(int fd, void *buf, size_t len, int flags)',
  setsockopt: 'int setsockopt(int fd, int level, int name, const void *value, uint32_t len)',
  setns: 'int setns(int fd, int nstype)',
  close: 'int close(int fd)',
});

const AF_NETLINK = 16, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000, NETLINK_ROUTE = 0;
/** ctnetlink and the other netfilter subsystems */
export const NETLINK_NETFILTER = 12;
const NLM_F_DUMP = 0x300;
const SOL_SOCKET = 1, SO_RCVTIMEO = 20, SOL_NETLINK = 270, NETLINK_CAP_ACK = 10, NETLINK_EXT_ACK = 11;
const EINTR = 4;

/** Message types and flags (linux/netlink.h, linux/rtnetlink.h). */
export const RTM = { NEWLINK: 16, DELLINK: 17, GETLINK: 18, NEWADDR: 20, DELADDR: 21, NEWROUTE: 24, DELROUTE: 25 } as const;
export const NLM_F = { REQUEST: 0x1, ACK: 0x4, REPLACE: 0x100, EXCL: 0x200, CREATE: 0x400 } as const;
const NLMSG_ERROR = 2, NLMSG_DONE = 3, NLM_F_ACK_TLVS = 0x200, NLMSGERR_ATTR_MSG = 1;
/** Link attributes (linux/if_link.h) used here. */
export const IFLA = { IFNAME: 3, MTU: 4, MASTER: 10, LINKINFO: 18, GROUP: 27, NET_NS_FD: 28, EXT_MASK: 29 } as const;
const IFLA_INFO_KIND = 1, IFLA_INFO_DATA = 2, IFLA_INFO_SLAVE_KIND = 4, IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1, IFLA_BRPORT_MODE = 4, RTEXT_FILTER_SKIP_STATS = 1 << 3;
const IFA_ADDRESS = 1, IFA_LOCAL = 2;
const RTA_DST = 1, RTA_OIF = 4, RTA_GATEWAY = 5;
const AF_UNSPEC = 0, AF_INET = 2;
export const IFF_UP = 1;
const RT_TABLE_MAIN = 254, RTPROT_BOOT = 3, RT_SCOPE_UNIVERSE = 0, RTN_UNICAST = 1;


/** Netlink attributes (TLVs, 4-byte aligned), nested ones included. */
export class Attrs {
  private parts: Buffer[] = [];
  private size = 0;

  private push(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  raw(type: number, data: Buffer): this {
    const len = 4 + data.length;
    const b = Buffer.alloc((len + 3) & ~3);
    b.writeUInt16LE(len, 0);
    b.writeUInt16LE(type, 2);
    data.copy(b, 4);
    return this.push(b);
  }

  u8(type: number, v: number): this {
    return this.raw(type, Buffer.from([v]));
  }

  u32(type: number, v: number): this {
    const d = Buffer.alloc(4);
    d.writeUInt32LE(v >>> 0, 0);
    return this.raw(type, d);
  }

  /** A NUL-terminated string (interface names, kinds). */
  str(type: number, s: string): this {
    return this.raw(type, Buffer.from(`${s}\0`));
  }

  /** An IPv4 address, network byte order. */
  ip4(type: number, addr: string): this {
    return this.raw(type, ipv4(addr));
  }

  nest(type: number, fill: (a: Attrs) => unknown): this {
    const inner = new Attrs();
    fill(inner);
    return this.raw(type, inner.buffer());
  }

  buffer(): Buffer {
    return Buffer.concat(this.parts, this.size);
  }
}

function ipv4(addr: string): Buffer {
  const p = addr.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new SysError('netlink', 22, addr, `not an IPv4 address: ${addr}`);
  return Buffer.from(p);
}

/** struct ifinfomsg followed by attributes. */
export function ifinfomsg(o: { index?: number; flags?: number; change?: number }, attrs?: Attrs): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt8(AF_UNSPEC, 0);
  h.writeInt32LE(o.index ?? 0, 4);
  h.writeUInt32LE(o.flags ?? 0, 8);
  h.writeUInt32LE(o.change ?? 0, 12);
  return attrs ? Buffer.concat([h, attrs.buffer()]) : h;
}

/** Where a request runs: a netlink socket in one network namespace. */
export interface RtnlOptions {
  /** an open fd of the namespace (/run/netns/NAME, /proc/PID/ns/net); default: the caller's */
  netnsFd?: number;
}

/** Errors name the request as the equivalent `ip` command when the caller gives one. */
export class Rtnl {
  private seq = 0;
  private readonly rbuf = Buffer.allocUnsafe(65536);
  private closed = false;

  constructor(readonly fd: number) {}

  close(): void {
    if (this.closed) return;
    this.closed = true;
    fns.close(this.fd);
  }

  /**
   * Send one request with NLM_F_ACK and read up to its ACK. Returns the
   * payloads (after the netlink header) of the replies that came before the
   * ACK (a GET's answer); a negative ACK throws a SysError named `what`.
   */
  request(type: number, flags: number, payload: Buffer, what: string): Buffer[] {
    return this.exchange(type, flags | NLM_F.ACK, payload, what, false);
  }

  /** A dump (NLM_F_DUMP): the payloads of every reply, up to NLMSG_DONE (a dump gets no ACK). */
  dump(type: number, payload: Buffer, what: string): Buffer[] {
    return this.exchange(type, NLM_F_DUMP, payload, what, true);
  }

  private exchange(type: number, flags: number, payload: Buffer, what: string, dump: boolean): Buffer[] {
    const seq = ++this.seq;
    const msg = Buffer.alloc(16 + payload.length);
    msg.writeUInt32LE(msg.length, 0);
    msg.writeUInt16LE(type, 4);
    msg.writeUInt16LE(flags | NLM_F.REQUEST, 6);
    msg.writeUInt32LE(seq, 8);
    payload.copy(msg, 16);
    const l = fns;
    for (;;) {
      const n = Number(l.send(this.fd, msg, msg.length, 0));
      if (n >= 0) break;
      const e = koffi().errno();
      if (e !== EINTR) throw new SysError('send', e, what);
    }
    const replies: Buffer[] = [];
    for (;;) {
      const n = Number(l.recv(this.fd, this.rbuf, this.rbuf.length, 0));
      if (n < 0) {
        const e = koffi().errno();
        if (e === EINTR) continue;
        throw new SysError('recv', e, what);
      }
      for (let off = 0; off + 16 <= n;) {
        const len = this.rbuf.readUInt32LE(off);
        if (len < 16 || off + len > n) break;
        const mtype = this.rbuf.readUInt16LE(off + 4);
        const mflags = this.rbuf.readUInt16LE(off + 6);
        const mseq = this.rbuf.readUInt32LE(off + 8);
        if (mseq === seq) {
          if (mtype === NLMSG_ERROR) {
            const err = -this.rbuf.readInt32LE(off + 16);
            if (err === 0) return replies;
            throw netlinkError(err, what, mflags & NLM_F_ACK_TLVS ? extackMessage(this.rbuf.subarray(off + 36, off + len)) : undefined);
          }
          if (mtype === NLMSG_DONE && dump) return replies;
          if (mtype !== NLMSG_DONE) replies.push(Buffer.from(this.rbuf.subarray(off + 16, off + len)));
        }
        off += (len + 3) & ~3;
      }
    }
  }

  /** The ifindex of a link by name (RTM_GETLINK); ENODEV when there is none. */
  linkIndex(name: string): number {
    const [reply] = this.request(RTM.GETLINK, 0, ifinfomsg({}, new Attrs().str(IFLA.IFNAME, name).u32(IFLA.EXT_MASK, RTEXT_FILTER_SKIP_STATS)), `ip link show ${name}`);
    if (!reply || reply.length < 16) throw new SysError(`ip link show ${name}`, 19);
    return reply.readInt32LE(4);
  }

  /**
   * A veth pair (`ip link add NAME type veth peer name PEER netns NS`),
   * optionally up, enslaved and with an MTU at creation, and with the peer
   * made directly in another namespace (IFLA_NET_NS_FD: ~0.5 ms, where
   * moving a link later costs ~16 ms here). The peer cannot be brought up
   * in the same request (veth_open refuses with ENOTCONN until the pair is
   * linked): set it up from inside its namespace.
   */
  addVeth(o: { name: string; peer: string; peerNetnsFd?: number; mtu?: number; master?: number; up?: boolean }, what: string): void {
    const peerAttrs = new Attrs().str(IFLA.IFNAME, o.peer);
    if (o.mtu) peerAttrs.u32(IFLA.MTU, o.mtu);
    if (o.peerNetnsFd !== undefined) peerAttrs.u32(IFLA.NET_NS_FD, o.peerNetnsFd);
    const peer = ifinfomsg({}, peerAttrs);
    const attrs = new Attrs().str(IFLA.IFNAME, o.name);
    if (o.mtu) attrs.u32(IFLA.MTU, o.mtu);
    if (o.master !== undefined) attrs.u32(IFLA.MASTER, o.master);
    attrs.nest(IFLA.LINKINFO, (li) => li.str(IFLA_INFO_KIND, 'veth').nest(IFLA_INFO_DATA, (d) => d.raw(VETH_INFO_PEER, peer)));
    this.request(RTM.NEWLINK, NLM_F.CREATE | NLM_F.EXCL, ifinfomsg(o.up ? { flags: IFF_UP, change: IFF_UP } : {}, attrs), what);
  }

  /** `ip link add NAME type KIND` (a bridge, a dummy: kinds without options). */
  addLink(o: { name: string; kind: string; up?: boolean }, what: string): void {
    const attrs = new Attrs().str(IFLA.IFNAME, o.name).nest(IFLA.LINKINFO, (li) => li.str(IFLA_INFO_KIND, o.kind));
    this.request(RTM.NEWLINK, NLM_F.CREATE | NLM_F.EXCL, ifinfomsg(o.up ? { flags: IFF_UP, change: IFF_UP } : {}, attrs), what);
  }

  /** `ip link set NAME [up|down] [master IDX] [group N]`, by name or index. */
  setLink(o: { name?: string; index?: number; up?: boolean; master?: number; group?: number }, what: string): void {
    const attrs = new Attrs();
    if (o.index === undefined && o.name !== undefined) attrs.str(IFLA.IFNAME, o.name);
    if (o.master !== undefined) attrs.u32(IFLA.MASTER, o.master);
    if (o.group !== undefined) attrs.u32(IFLA.GROUP, o.group);
    const flags = o.up === undefined ? {} : { flags: o.up ? IFF_UP : 0, change: IFF_UP };
    this.request(RTM.NEWLINK, 0, ifinfomsg({ index: o.index ?? 0, ...flags }, attrs), what);
  }

  /** `ip link set NAME type bridge_slave hairpin on|off` */
  setHairpin(name: string, on: boolean, what: string): void {
    const attrs = new Attrs().str(IFLA.IFNAME, name)
      .nest(IFLA.LINKINFO, (li) => li.str(IFLA_INFO_SLAVE_KIND, 'bridge').nest(IFLA_INFO_SLAVE_DATA, (d) => d.u8(IFLA_BRPORT_MODE, on ? 1 : 0)));
    this.request(RTM.NEWLINK, 0, ifinfomsg({}, attrs), what);
  }

  /** `ip link del NAME` */
  delLink(name: string, what: string): void {
    this.request(RTM.DELLINK, 0, ifinfomsg({}, new Attrs().str(IFLA.IFNAME, name)), what);
  }

  /** `ip link del group N`: the kernel unregisters them together (one RCU grace period, not one per link). */
  delGroup(group: number, what: string): void {
    this.request(RTM.DELLINK, 0, ifinfomsg({}, new Attrs().u32(IFLA.GROUP, group)), what);
  }

  /** `ip addr add IP/PREFIX dev IDX` (IPv4). */
  addAddr4(index: number, ip: string, prefix: number, what: string): void {
    const h = Buffer.alloc(8);
    h.writeUInt8(AF_INET, 0);
    h.writeUInt8(prefix, 1);
    h.writeUInt8(RT_SCOPE_UNIVERSE, 3);
    h.writeUInt32LE(index, 4);
    const attrs = new Attrs().ip4(IFA_LOCAL, ip).ip4(IFA_ADDRESS, ip);
    this.request(RTM.NEWADDR, NLM_F.CREATE | NLM_F.EXCL, Buffer.concat([h, attrs.buffer()]), what);
  }

  /** `ip route add DST/LEN via GW dev IDX` in the main table (IPv4); dst 0.0.0.0/0 is the default route. */
  addRoute4(o: { dst?: string; dstLen?: number; gateway?: string; oif?: number }, what: string): void {
    const h = Buffer.alloc(12);
    h.writeUInt8(AF_INET, 0);
    h.writeUInt8(o.dstLen ?? 0, 1);
    h.writeUInt8(RT_TABLE_MAIN, 4);
    h.writeUInt8(RTPROT_BOOT, 5);
    h.writeUInt8(RT_SCOPE_UNIVERSE, 6);
    h.writeUInt8(RTN_UNICAST, 7);
    const attrs = new Attrs();
    if (o.dst && o.dstLen) attrs.ip4(RTA_DST, o.dst);
    if (o.gateway) attrs.ip4(RTA_GATEWAY, o.gateway);
    if (o.oif !== undefined) attrs.u32(RTA_OIF, o.oif);
    this.request(RTM.NEWROUTE, NLM_F.CREATE | NLM_F.EXCL, Buffer.concat([h, attrs.buffer()]), what);
  }
}

/** The attributes (TLVs) of a netlink payload by type, the nested flag masked off; nested ones stay bytes. */
export function parseAttrs(b: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  for (let off = 0; off + 4 <= b.length;) {
    const len = b.readUInt16LE(off);
    if (len < 4 || off + len > b.length) break;
    out.set(b.readUInt16LE(off + 2) & 0x3fff, b.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}

function extackMessage(tlvs: Buffer): string | undefined {
  return parseAttrs(tlvs).get(NLMSGERR_ATTR_MSG)?.toString().replace(/\0.*$/s, '');
}

function netlinkError(errno: number, what: string, extack?: string): SysError {
  const text = strerror(errno);
  return new SysError(what, errno, undefined, extack ? `${text}: ${extack}` : text);
}

function rawSocket(protocol = NETLINK_ROUTE): number {
  const l = fns;
  const fd = l.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
  if (fd < 0) throw new SysError('socket', koffi().errno(), 'AF_NETLINK');
  const one = Buffer.alloc(4);
  one.writeInt32LE(1, 0);
  // the kernel's reason for a refusal ("Nexthop has invalid gateway"), without echoing the request
  l.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, one, 4);
  l.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, one, 4);
  // a request always gets its ACK at once; a timeout only guards against a kernel that does not answer
  const tv = Buffer.alloc(16);
  tv.writeBigInt64LE(10n, 0);
  l.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
  return fd;
}

/** Run `fn` with the calling thread in the network namespace `nsFd`, then switch back. */
export function inNetns<T>(nsFd: number, fn: () => T): T {
  const l = fns;
  const self = openSync('/proc/thread-self/ns/net', 'r');
  try {
    if (l.setns(nsFd, CLONE.NEWNET) !== 0) throw new SysError('setns', koffi().errno(), `fd ${nsFd}`);
    try {
      return fn();
    } finally {
      if (l.setns(self, CLONE.NEWNET) !== 0) {
        // the main thread would stay in the container's namespace: nothing after this could be trusted
        process.stderr.write(`setns back to the original network namespace failed: ${strerror(koffi().errno())}\n`);
        process.abort();
      }
    }
  } finally {
    closeSync(self);
  }
}

/** A NETLINK_ROUTE socket in this thread's network namespace, or in the one of `netnsFd`. */
export function openRtnl(o: RtnlOptions = {}): Rtnl {
  return new Rtnl(o.netnsFd === undefined ? rawSocket() : inNetns(o.netnsFd, rawSocket));
}

/** A netlink socket of another family (NETLINK_NETFILTER) in this thread's network namespace. */
export function openNetlink(protocol: number): Rtnl {
  return new Rtnl(rawSocket(protocol));
}

/** Open a socket, run `fn`, close it. */
export function withRtnl<T>(fn: (nl: Rtnl) => T, o: RtnlOptions = {}): T {
  const nl = openRtnl(o);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}
