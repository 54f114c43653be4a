/**
 * The UDP flows a sync makes stale, and their deletion: a UDP flow keeps the
 * DNAT of its conntrack entry, so after a sync it still reaches an endpoint
 * or through an address the services no longer have until its entry goes.
 */

import { deleteFlows } from '@boxkit/native';
import { readFileSync } from 'node:fs';
import type { Diff } from './diff.js';
import type { Service } from './model.js';
import type { Names } from './names.js';
import type { Ruleset } from './rules.js';

/** Where a flow deletion says what it did, and what it could not do. */
export interface FlowReport {
  trace?: (line: string) => void;
  warn?: (message: string) => void;
}

/** A removed UDP endpoint of a service: the flows to delete are the service's (its VIP:port, its NodePort) DNATed to it. */
export interface StaleUdp {
  endpoint: string;
  /** VIP:PORT, when the service's rule was found */
  vip?: string;
  nodePort?: number;
}

const UDP_DNAT = /^-p udp -m comment --comment ("[^"]*"|\S+) .*-j DNAT --to-destination (\d+\.\d+\.\d+\.\d+:\d+)$/;
const CLUSTER_IP = /^-d (\d+\.\d+\.\d+\.\d+)\/32 -p udp .*--dport (\d+) -j (\S+)$/;
const NODE_PORT = /^-p udp .*--dport (\d+) -j (\S+)$/;

/**
 * The UDP endpoints the diff removes (its SEP chains in `before`), each
 * with the VIP:port and NodePort of the service it served: the DNAT rule
 * names the service, whose SVC chain the bucket and NODEPORTS rules of
 * `before` jump to.
 */
export function staleUdp(before: Ruleset, d: Diff, names: Names): StaleUdp[] {
  const out: StaleUdp[] = [];
  const bySvc = new Map<string, StaleUdp[]>();
  for (const chain of d.nat.remove) {
    for (const rule of before.chains.nat.get(chain) ?? []) {
      const m = UDP_DNAT.exec(rule);
      if (!m) continue;
      const name = m[1]!.replace(/^"(.*)"$/, '$1');
      const svc = names.of({ name, protocol: 'udp' } as Service).svc;
      const x: StaleUdp = { endpoint: m[2]! };
      out.push(x);
      bySvc.set(svc, [...(bySvc.get(svc) ?? []), x]);
    }
  }
  if (!out.length) return out;
  const bucketPrefix = `${names.prefix}-SVB-`;
  for (const [chain, rules] of before.chains.nat) {
    const bucket = chain.startsWith(bucketPrefix);
    if (!bucket && chain !== names.nodePorts) continue;
    for (const rule of rules) {
      const target = rule.slice(rule.lastIndexOf(' -j ') + 4);
      const xs = bySvc.get(target);
      if (!xs) continue;
      const m = (bucket ? CLUSTER_IP : NODE_PORT).exec(rule);
      if (!m) continue;
      for (const x of xs) {
        if (bucket) x.vip = `${m[1]}:${m[2]}`;
        else x.nodePort = Number(m[1]);
      }
    }
  }
  return out;
}

/** A UDP VIP:PORT or NodePort a sync takes away, with the endpoints (IP:PORT) it was DNATed to. */
export interface GoneUdp<K> {
  key: K;
  endpoints: Set<string>;
}

/**
 * The UDP VIP:PORTs and NodePorts `before` served that the diff takes away
 * (a service removed, its VIP, port or NodePort changed): the bucket and
 * NODEPORTS chains the diff rewrites or removes, before against after, each
 * with the endpoints its service chain DNATed to in `before`. Their flows
 * keep their DNAT to the endpoint, through an address the service no longer
 * has, unless their entries go (kube-proxy clears them).
 */
export function staleUdpAddresses(before: Ruleset, d: Diff, names: Names): { vips: GoneUdp<string>[]; nodePorts: GoneUdp<number>[] } {
  const out = { vips: [] as GoneUdp<string>[], nodePorts: [] as GoneUdp<number>[] };
  // nothing of ours was there (a first apply): nothing can go, and nothing need be compared (~15 ms of a 1k full apply)
  if (!before.chains.nat.size) return out;
  const bucketPrefix = `${names.prefix}-SVB-`;
  const written = new Map(d.nat.write.map((w) => [w.chain, w.rules]));
  // the endpoints behind a service chain: its rules jump to endpoint chains, whose DNAT names the endpoint
  const endpointsOf = (svc: string) => new Set((before.chains.nat.get(svc) ?? []).flatMap((r) => {
    const sep = r.slice(r.lastIndexOf(' -j ') + 4);
    return (before.chains.nat.get(sep) ?? []).flatMap((x) => UDP_DNAT.exec(x)?.[2] ?? []);
  }));
  for (const chain of [...written.keys(), ...d.nat.remove]) {
    const bucket = chain.startsWith(bucketPrefix);
    if (!bucket && chain !== names.nodePorts) continue;
    if (!before.chains.nat.has(chain)) continue; // a new chain takes nothing away
    /** key (VIP:PORT or NodePort) -> the service chains its rules jump to */
    const served = (rules: readonly string[]) => {
      const m = new Map<string, string[]>();
      for (const r of rules) {
        const x = (bucket ? CLUSTER_IP : NODE_PORT).exec(r);
        if (!x) continue;
        const k = bucket ? `${x[1]}:${x[2]}` : x[1]!;
        m.set(k, [...(m.get(k) ?? []), bucket ? x[3]! : x[2]!]);
      }
      return m;
    };
    const now = served(written.get(chain) ?? []);
    for (const [k, targets] of served(before.chains.nat.get(chain) ?? [])) {
      if (now.has(k)) continue;
      const endpoints = new Set(targets.flatMap((t) => [...endpointsOf(t)]));
      if (bucket) out.vips.push({ key: k, endpoints });
      else out.nodePorts.push({ key: Number(k), endpoints });
    }
  }
  return out;
}

/**
 * The node's own addresses, as `-m addrtype --dst-type LOCAL` sees them:
 * the `host LOCAL` routes of the local table (/proc/net/fib_trie, this
 * network namespace's), as [address, prefix length], 127/8 left out as the
 * NodePort rule leaves it out. A NodePort flow was sent to one of them.
 */
export function localAddresses(fibTrie: string): [number, number][] {
  const out: [number, number][] = [];
  const lines = fibTrie.split('\n');
  for (let i = 1; i < lines.length; i++) {
    const m = /^\s*\/(\d+) host LOCAL$/.exec(lines[i]!);
    const a = m && /-- (\d+\.\d+\.\d+\.\d+)$/.exec(lines[i - 1]!);
    if (!a || a[1]!.startsWith('127.')) continue;
    const key: [number, number] = [ipNumber(a[1]!), Number(m[1])];
    if (!out.some(([x, l]) => x === key[0] && l === key[1])) out.push(key);
  }
  return out;
}

const ipNumber = (ip: string): number => ip.split('.').reduce((n, b) => n * 256 + Number(b), 0);
const inPrefix = (ip: string, [net, len]: [number, number]): boolean => {
  const size = 2 ** (32 - len);
  return Math.floor(ipNumber(ip) / size) === Math.floor(net / size);
};

/** `conntrack -D` arguments that say what the match deletes for one removed endpoint. */
function ctArgs(x: StaleUdp): string {
  const dst: string[] = [];
  if (x.vip) dst.push(`--orig-dst ${x.vip.replace(':', ' --orig-port-dst ')} `);
  if (x.nodePort !== undefined) dst.push(`--orig-port-dst ${x.nodePort} `);
  if (!dst.length) dst.push('');
  return dst.map((m) => `-p udp ${m}--dst-nat ${x.endpoint}`).join('; ');
}

/**
 * UDP has no connection to end: a flow keeps the DNAT of its conntrack
 * entry, so it still reaches an endpoint the sync removed until the entry
 * expires. kube-proxy deletes those entries (`conntrack -D -p udp
 * --orig-dst VIP --dst-nat EP`, and `--orig-port-dst NODEPORT --dst-nat EP`
 * for NodePorts): the flows of the service that lost the endpoint, not every
 * flow the endpoint answers (another service that keeps the endpoint keeps
 * its flows). Their next packet is NATed again. A failure here cannot undo
 * the sync: it is a warning.
 */
export function dropStaleUdp(before: Ruleset, d: Diff, names: Names, opts: FlowReport): void {
  udpDropPlan(before, d, names, opts)?.();
}

/**
 * dropStaleUdp in two steps: what to delete (pure: made while
 * iptables-restore commits), and a function that deletes it once the
 * restore succeeded (undefined when no UDP flow can be stale).
 */
export function udpDropPlan(before: Ruleset, d: Diff, names: Names, opts: FlowReport): (() => void) | undefined {
  const stale = staleUdp(before, d, names);
  const gone = staleUdpAddresses(before, d, names);
  if (!stale.length && !gone.vips.length && !gone.nodePorts.length) return undefined;
  const goneVip = new Map(gone.vips.map((x) => [x.key, x.endpoints])); // VIP:PORT no service has now
  const goneNodePort = new Map(gone.nodePorts.map((x) => [x.key, x.endpoints]));
  const byVip = new Set<string>(); // `VIP:PORT EP`
  const byNodePort = new Set<string>(); // `NODEPORT EP`
  const anyVip = new Set<string>(); // EP, when the service's VIP was not found: every flow DNATed to the endpoint goes
  for (const x of stale) {
    if (x.vip) byVip.add(`${x.vip} ${x.endpoint}`);
    if (x.nodePort !== undefined) byNodePort.add(`${x.nodePort} ${x.endpoint}`);
    if (!x.vip && x.nodePort === undefined) anyVip.add(x.endpoint);
  }
  const what = [
    ...stale.map(ctArgs),
    ...gone.vips.map((v) => `-p udp --orig-dst ${v.key.replace(':', ' --orig-port-dst ')}${replySrc(v.endpoints)}`),
    ...gone.nodePorts.map((p) => `-p udp --orig-port-dst ${p.key}${replySrc(p.endpoints)}`),
  ].join('; ');
  return () => {
    try {
      // a NodePort flow was sent to one of the node's own addresses: a flow to that port number elsewhere (a VIP whose
      // port has the same number, traffic the node routes or someone else's DNAT) is not one (read once, when needed)
      let local: [number, number][] | undefined;
      const isLocal = (ip: string) => (local ??= nodeAddresses()).some((p) => inPrefix(ip, p));
      const n = deleteFlows('udp', (f) => {
        const ep = `${f.reply.src}:${f.reply.sport}`;
        if (byVip.has(`${f.orig.dst}:${f.orig.dport} ${ep}`) || anyVip.has(ep)) return true;
        // a gone VIP or NodePort: only flows that were DNATed to one of its endpoints (a VIP may be a real address of a host process)
        if (goneVip.get(`${f.orig.dst}:${f.orig.dport}`)?.has(ep)) return true;
        const nodePort = byNodePort.has(`${f.orig.dport} ${ep}`) || !!goneNodePort.get(f.orig.dport)?.has(ep);
        return nodePort && isLocal(f.orig.dst);
      });
      opts.trace?.(`# conntrack -D ${what}: ${n} flow(s)`);
    } catch (e) {
      const to = [...stale.map((x) => x.endpoint), ...gone.vips.map((v) => v.key), ...gone.nodePorts.map((p) => `node port ${p.key}`)];
      opts.warn?.(`warning: UDP flows to removed endpoints or addresses (${to.join(', ')}) keep their old DNAT until they expire: ${(e as Error).message}`);
    }
  };
}

/** How the trace line says "DNATed to one of these" (conntrack -D takes one --dst-nat; here the endpoints are listed). */
const replySrc = (eps: Set<string>): string => (eps.size ? ` --dst-nat ${[...eps].join(',')}` : '');

/** This namespace's local addresses (the interfaces' own, when /proc/net/fib_trie cannot be read). */
function nodeAddresses(): [number, number][] {
  try {
    return localAddresses(readFileSync('/proc/net/fib_trie', 'latin1'));
  } catch {
    const os = process.getBuiltinModule('node:os') as typeof import('node:os');
    return Object.values(os.networkInterfaces()).flatMap((xs) => xs ?? [])
      .filter((x) => x.family === 'IPv4' && !x.address.startsWith('127.')).map((x) => [ipNumber(x.address), 32] as [number, number]);
  }
}
