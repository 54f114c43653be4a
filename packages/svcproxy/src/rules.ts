/**
 * The desired rules, written exactly as iptables-save prints them back (so a
 * sync can compare text with the kernel and rewrite only what differs).
 *
 *   nat PREROUTING/OUTPUT -> SERVICES -> SVB-<vip /24> -> SVC-<service> -> SEP-<endpoint> (DNAT)
 *                            SERVICES -> NODEPORTS (dst-type LOCAL) -> MARK-MASQ, SVC-<service>
 *   nat POSTROUTING -> POSTROUTING: MASQUERADE what carries the mark
 *   filter INPUT/FORWARD/OUTPUT -> SERVICES: REJECT services without endpoints
 *
 * The /24 buckets are the two-level dispatch: changing one service rewrites
 * its own chains and one bucket (at most 256 VIPs), never a chain that grows
 * with the number of services.
 */
import { endpointText, type Service } from './model.js';
import { bucketOf, Names, type ServiceNames } from './names.js';

export type Table = 'nat' | 'filter';
export const TABLES: readonly Table[] = ['nat', 'filter'];

/** A rule in a built-in chain that jumps into ours. */
export interface Hook {
  table: Table;
  chain: string;
  /** the rule as iptables-save prints it after `-A CHAIN ` */
  spec: string;
}

export interface Ruleset {
  /** chain -> rule specs (text after `-A CHAIN `), in order */
  chains: Record<Table, Map<string, string[]>>;
  hooks: Hook[];
}

/** The mark bit that asks POSTROUTING to masquerade (kube-proxy uses 0x4000; we stay off it). */
export const MASQ_MARK = '0x2000';
const PORTALS = '-m comment --comment "boxkit service portals"';
/**
 * NodePorts are not served on 127.0.0.0/8 (kube-proxy's rule without
 * route_localnet): DNATed away from loopback, a packet keeps its 127.x
 * source and is dropped as a martian, so the connection would hang, and a
 * host process listening on 127.0.0.1:NODEPORT would be cut off.
 */
const NOT_LOOPBACK = '! -d 127.0.0.0/8';

/** iptables stores the probability as round(p * 2^31) and prints it with %.11f: write it that way. */
export function probability(p: number): string {
  return (Math.round(p * 0x80000000) / 0x80000000).toFixed(11);
}

export function emptyRuleset(): Ruleset {
  return { chains: { nat: new Map(), filter: new Map() }, hooks: [] };
}

/** The hook rules that connect the built-in chains to ours. */
export function hooks(n: Names): Hook[] {
  const newOnly = `-m conntrack --ctstate NEW ${PORTALS} -j ${n.services}`;
  return [
    { table: 'nat', chain: 'PREROUTING', spec: `${PORTALS} -j ${n.services}` },
    { table: 'nat', chain: 'OUTPUT', spec: `${PORTALS} -j ${n.services}` },
    { table: 'nat', chain: 'POSTROUTING', spec: `-m comment --comment "boxkit service masquerade" -j ${n.postrouting}` },
    { table: 'filter', chain: 'INPUT', spec: newOnly },
    { table: 'filter', chain: 'FORWARD', spec: newOnly },
    { table: 'filter', chain: 'OUTPUT', spec: newOnly },
  ];
}

/** The chains of one service that has endpoints: one SEP per endpoint, then the SVC that jumps to them. */
export function serviceChains(n: Names, s: Service, out: Map<string, string[]>): void {
  for (const [, chain, rules] of serviceChainList(n, s)) out.set(chain, rules);
}

/**
 * serviceChains as a list, in the order a restore must see them (a chain
 * exists before a rule jumps to it), made as chainsOf yields them.
 */
function serviceChainList(n: Names, s: Service, sn: ServiceNames = n.of(s)): ChainRules[] {
  const p = s.protocol;
  const eps = s.endpoints.map(endpointText);
  const seps = eps.map(sn.sep);
  const recent = (sep: string) => `--name ${sep} --mask 255.255.255.255 --rsource`;
  const comment = q(s.name);
  // the parts every endpoint shares, made once
  const hairpin = `/32 -m comment --comment ${comment} -j ${n.markMasq}`;
  const dnat = `-p ${p} -m comment --comment ${comment}`;
  const dnatTail = ` -m ${p} -j DNAT --to-destination `;
  const out: ChainRules[] = [];
  const count = s.endpoints.length;
  for (let i = 0; i < count; i++) {
    const set = s.affinitySeconds !== undefined ? ` -m recent --set ${recent(seps[i]!)}` : '';
    out.push(['nat', seps[i]!, [
      // hairpin: an endpoint reaching its own service must be masqueraded or the reply bypasses NAT
      `-s ${s.endpoints[i]!.ip}${hairpin}`,
      `${dnat}${set}${dnatTail}${eps[i]}`,
    ]]);
  }
  const rules: string[] = [];
  if (s.affinitySeconds !== undefined) {
    // kube-proxy's ClientIP affinity: a client seen recently goes back to the same endpoint
    for (let i = 0; i < count; i++) {
      rules.push(`-m comment --comment "${s.name} -> ${eps[i]}" -m recent --rcheck --seconds ${s.affinitySeconds} --reap ${recent(seps[i]!)} -j ${seps[i]}`);
    }
  }
  const to = `-m comment --comment "${s.name} -> `;
  for (let i = 0; i < count; i++) {
    // endpoint i of n with probability 1/(n-i): each ends up with 1/n overall
    const stat = i < count - 1 ? `" -m statistic --mode random --probability ${probabilityOfOne(count - i)} -j ` : '" -j ';
    rules.push(`${to}${eps[i]}${stat}${seps[i]}`);
  }
  out.push(['nat', sn.svc, rules]);
  return out;
}

/** probability(1 / k), remembered: every service with k endpoints left asks for the same text. */
const oneIn: string[] = [];
const probabilityOfOne = (k: number): string => (oneIn[k] ??= probability(1 / k));

/** iptables-save quotes a comment only when it has characters outside this set. */
function q(s: string): string {
  return /^[A-Za-z0-9_.:/-]+$/.test(s) ? s : `"${s}"`;
}

/**
 * Only part of the state, for a partial sync: the chains of the named
 * services and of the listed /24 buckets, plus the shared chains (whose
 * rules are cheap to build). Rendering both sides with the same scope keeps
 * the diff exact while the work stays proportional to the change.
 */
export interface Scope {
  names: ReadonlySet<string>;
  buckets: ReadonlySet<string>;
  /**
   * Which shared chains to render (all three when absent): NODEPORTS, the
   * filter REJECTs, and the entry chain from this bucket list. A delta
   * (delta.ts) renders a shared chain only when the change touches it, and
   * then gives every member of it.
   */
  shared?: { nodePorts: boolean; rejects: boolean; cidrs?: readonly string[] };
}

/** One chain of the desired state. */
export type ChainRules = [table: Table, chain: string, rules: string[]];

/**
 * The desired chains (all, or what `scope` covers), one at a time and in an
 * order iptables-restore accepts chain by chain: every chain comes before
 * any chain that jumps to it (MARK-MASQ and POSTROUTING, then each
 * service's SEPs and SVC, then the /24 buckets, NODEPORTS and the entry
 * chain; filter last). A sync can then write each chain as it is made.
 */
export function* chainsOf(n: Names, services: Iterable<Service>, scope?: Scope): Generator<ChainRules> {
  yield ['nat', n.markMasq, [`-j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`]];
  yield ['nat', n.postrouting, [
    `-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-j MARK --set-xmark ${MASQ_MARK}/0x0`,
    `-m comment --comment "boxkit service traffic requiring SNAT" -j MASQUERADE --random-fully`,
  ]];
  const buckets = new Map<string, string[]>(); // by /24
  const cidrs = new Set<string>();
  const nodePorts: string[] = [];
  const rejects: string[] = [];
  for (const s of services) {
    const p = s.protocol;
    if (!s.endpoints.length) {
      const c = `-m comment --comment "${s.name} has no endpoints"`;
      rejects.push(`-d ${s.vip}/32 -p ${p} ${c} -m ${p} --dport ${s.port} -j REJECT --reject-with icmp-port-unreachable`);
      if (s.nodePort !== undefined) {
        rejects.push(`${NOT_LOOPBACK} -p ${p} ${c} -m addrtype --dst-type LOCAL -m ${p} --dport ${s.nodePort} -j REJECT --reject-with icmp-port-unreachable`);
      }
      continue;
    }
    const cidr = bucketOf(s.vip);
    cidrs.add(cidr);
    const inBucket = !scope || scope.buckets.has(cidr);
    if (!inBucket && !scope!.names.has(s.name) && s.nodePort === undefined) continue;
    const sn = n.of(s);
    const svc = sn.svc;
    if (inBucket) {
      let rules = buckets.get(cidr);
      if (!rules) buckets.set(cidr, (rules = []));
      rules.push(`-d ${s.vip}/32 -p ${p} -m comment --comment "${s.name} cluster IP" -m ${p} --dport ${s.port} -j ${svc}`);
    }
    if (s.nodePort !== undefined) {
      const c = `-p ${p} -m comment --comment "${s.name} node port" -m ${p} --dport ${s.nodePort}`;
      nodePorts.push(`${c} -j ${n.markMasq}`, `${c} -j ${svc}`);
    }
    if (!scope || scope.names.has(s.name)) {
      // an indexed loop, not for-of with destructuring: this runs cold (bytecode) for every chain of a full render
      const list = serviceChainList(n, s, sn);
      for (let i = 0; i < list.length; i++) yield list[i]!;
    }
  }
  for (const [cidr, rules] of buckets) yield ['nat', n.bucketCidr(cidr), rules];
  const shared = scope?.shared;
  if (!shared || shared.nodePorts) yield ['nat', n.nodePorts, nodePorts];
  // sorted so the entry chain does not change when services are listed in another order
  const entry = shared ? shared.cidrs : [...cidrs].sort();
  if (entry) {
    yield ['nat', n.services, [
      ...entry.map((cidr) => `-d ${cidr} -m comment --comment "VIPs in ${cidr}" -j ${n.bucketCidr(cidr)}`),
      `${NOT_LOOPBACK} -m comment --comment "node ports; must be the last rule" -m addrtype --dst-type LOCAL -j ${n.nodePorts}`,
    ]];
  }
  if (!shared || shared.rejects) yield ['filter', n.services, rejects];
}

/** Render the desired state (all of it, or what `scope` covers), chains in chainsOf's order. */
export function render(prefix: string | Names, services: readonly Service[], scope?: Scope): Ruleset {
  const n = typeof prefix === 'string' ? new Names(prefix) : prefix;
  const rs = emptyRuleset();
  for (const [t, chain, rules] of chainsOf(n, services, scope)) rs.chains[t].set(chain, rules);
  rs.hooks = hooks(n);
  return rs;
}
