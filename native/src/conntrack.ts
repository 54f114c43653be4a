/**
 * Connection tracking entries over ctnetlink (NETLINK_NETFILTER), what
 * `conntrack -L -p udp` and `conntrack -D` do, for the one case a Service
 * proxy needs: a UDP flow keeps its DNAT (its conntrack entry) after the
 * endpoint it was sent to is gone, so its packets still go there until the
 * entry expires. kube-proxy deletes those entries; so does svcproxy.
 * (TCP entries too, for the tests: an unanswered SYN's entry keeps a later
 * connection from the same port un-NATed until it expires.)
 */
import { SysError } from './errors.js';
import { Attrs, NETLINK_NETFILTER, openNetlink, parseAttrs as attrs } from './netlink.js';

const NFNL_SUBSYS_CTNETLINK = 1;
const IPCTNL_MSG_CT_GET = 1, IPCTNL_MSG_CT_DELETE = 2;
const CTA_TUPLE_ORIG = 1, CTA_TUPLE_REPLY = 2;
const CTA_TUPLE_IP = 1, CTA_TUPLE_PROTO = 2;
const CTA_IP_V4_SRC = 1, CTA_IP_V4_DST = 2;
const CTA_PROTO_NUM = 1, CTA_PROTO_SRC_PORT = 2, CTA_PROTO_DST_PORT = 3;
const AF_INET = 2, ENOENT = 2;
const PROTO = { tcp: 6, udp: 17 } as const;
export type FlowProtocol = keyof typeof PROTO;

/** One direction of a flow. */
export interface CtTuple {
  src: string;
  dst: string;
  sport: number;
  dport: number;
}

/** A conntrack entry: as the client sent it, and as the reply comes back (from the endpoint after DNAT). */
export interface Flow {
  orig: CtTuple;
  reply: CtTuple;
}

/** struct nfgenmsg: family, version, res_id (big endian). */
function nfgenmsg(): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt8(AF_INET, 0);
  return b;
}

const ip4 = (b: Buffer | undefined): string => (b && b.length === 4 ? `${b[0]}.${b[1]}.${b[2]}.${b[3]}` : '');

function tuple(b: Buffer | undefined): { t: CtTuple; proto: number } | undefined {
  if (!b) return undefined;
  const a = attrs(b);
  const ip = attrs(a.get(CTA_TUPLE_IP) ?? Buffer.alloc(0));
  const pr = attrs(a.get(CTA_TUPLE_PROTO) ?? Buffer.alloc(0));
  const port = (k: number) => pr.get(k)?.readUInt16BE(0) ?? 0;
  return { t: { src: ip4(ip.get(CTA_IP_V4_SRC)), dst: ip4(ip.get(CTA_IP_V4_DST)), sport: port(CTA_PROTO_SRC_PORT), dport: port(CTA_PROTO_DST_PORT) }, proto: pr.get(CTA_PROTO_NUM)?.readUInt8(0) ?? 0 };
}

/** Each IPv4 entry of `proto` in this network namespace, with its original tuple as the kernel names it. */
function* dump(nl: ReturnType<typeof openNetlink>, proto: FlowProtocol): Generator<{ flow: Flow; origRaw: Buffer }> {
  for (const msg of nl.dump((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET, nfgenmsg(), 'conntrack -L')) {
    const a = attrs(msg.subarray(4));
    const origRaw = a.get(CTA_TUPLE_ORIG);
    const orig = tuple(origRaw);
    const reply = tuple(a.get(CTA_TUPLE_REPLY));
    if (!origRaw || !orig || !reply || orig.proto !== PROTO[proto]) continue;
    yield { flow: { orig: orig.t, reply: reply.t }, origRaw };
  }
}

/** The IPv4 flows of `proto` in this process's network namespace (`conntrack -L -p PROTO`). */
export function listFlows(proto: FlowProtocol): Flow[] {
  const nl = openNetlink(NETLINK_NETFILTER);
  try {
    return [...dump(nl, proto)].map((x) => x.flow);
  } finally {
    nl.close();
  }
}

/**
 * Delete the IPv4 flows of `proto` that `match` picks, in this process's
 * network namespace; returns how many went. An entry that expired
 * meanwhile is not an error.
 */
export function deleteFlows(proto: FlowProtocol, match: (f: Flow) => boolean): number {
  const nl = openNetlink(NETLINK_NETFILTER);
  try {
    const doomed: Buffer[] = [];
    for (const { flow, origRaw } of dump(nl, proto)) if (match(flow)) doomed.push(origRaw);
    let n = 0;
    for (const origRaw of doomed) {
      // the entry is named by its original tuple, as it was dumped (a nested attribute: NLA_F_NESTED)
      const attr = new Attrs().raw(CTA_TUPLE_ORIG | 0x8000, origRaw).buffer();
      try {
        nl.request((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_DELETE, 0, Buffer.concat([nfgenmsg(), attr]), 'conntrack -D');
        n++;
      } catch (e) {
        if (!(e instanceof SysError && e.errno === ENOENT)) throw e;
      }
    }
    return n;
  } finally {
    nl.close();
  }
}
