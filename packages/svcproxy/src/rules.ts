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
import { bucketOf, Names } from './names.js';

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

/** The chains of one service that has endpoints (SVC + one SEP per endpoint). */
export function serviceChains(n: Names, s: Service, out: Map<string, string[]>): void {
  const p = s.protocol;
  const svc = n.svc(s);
  const rules: string[] = [];
  const seps = s.endpoints.map((e) => n.sep(s, e));
  const recent = (sep: string) => `--name ${sep} --mask 255.255.255.255 --rsource`;
  if (s.affinitySeconds !== undefined) {
    // kube-proxy's ClientIP affinity: a client seen recently goes back to the same endpoint
    s.endpoints.forEach((e, i) =>
      rules.push(`-m comment --comment "${s.name} -> ${endpointText(e)}" -m recent --rcheck --seconds ${s.affinitySeconds} --reap ${recent(seps[i]!)} -j ${seps[i]}`));
  }
  const count = s.endpoints.length;
  s.endpoints.forEach((e, i) => {
    // endpoint i of n with probability 1/(n-i): each ends up with 1/n overall
    const stat = i < count - 1 ? ` -m statistic --mode random --probability ${probability(1 / (count - i))}` : '';
    rules.push(`-m comment --comment "${s.name} -> ${endpointText(e)}"${stat} -j ${seps[i]}`);
  });
  out.set(svc, rules);
  s.endpoints.forEach((e, i) => {
    const set = s.affinitySeconds !== undefined ? ` -m recent --set ${recent(seps[i]!)}` : '';
    out.set(seps[i]!, [
      // hairpin: an endpoint reaching its own service must be masqueraded or the reply bypasses NAT
      `-s ${e.ip}/32 -m comment --comment ${q(s.name)} -j ${n.markMasq}`,
      `-p ${p} -m comment --comment ${q(s.name)}${set} -m ${p} -j DNAT --to-destination ${endpointText(e)}`,
    ]);
  });
}

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
}

/** Render the desired state (all of it, or what `scope` covers). */
export function render(prefix: string | Names, services: readonly Service[], scope?: Scope): Ruleset {
  const n = typeof prefix === 'string' ? new Names(prefix) : prefix;
  const rs = emptyRuleset();
  const nat = rs.chains.nat;
  const buckets = new Map<string, string[]>();
  const nodePorts: string[] = [];
  const rejects: string[] = [];
  for (const s of services) {
    const p = s.protocol;
    if (!s.endpoints.length) {
      const c = `-m comment --comment "${s.name} has no endpoints"`;
      rejects.push(`-d ${s.vip}/32 -p ${p} ${c} -m ${p} --dport ${s.port} -j REJECT --reject-with icmp-port-unreachable`);
      if (s.nodePort !== undefined) {
        rejects.push(`-p ${p} ${c} -m addrtype --dst-type LOCAL -m ${p} --dport ${s.nodePort} -j REJECT --reject-with icmp-port-unreachable`);
      }
      continue;
    }
    const inBucket = !scope || scope.buckets.has(bucketOf(s.vip));
    if (!inBucket && !scope!.names.has(s.name) && s.nodePort === undefined) continue;
    const svc = n.svc(s);
    const bucket = n.bucket(s.vip);
    if (inBucket && !buckets.has(bucket)) buckets.set(bucket, []);
    if (inBucket) buckets.get(bucket)!.push(`-d ${s.vip}/32 -p ${p} -m comment --comment "${s.name} cluster IP" -m ${p} --dport ${s.port} -j ${svc}`);
    if (s.nodePort !== undefined) {
      const c = `-p ${p} -m comment --comment "${s.name} node port" -m ${p} --dport ${s.nodePort}`;
      nodePorts.push(`${c} -j ${n.markMasq}`, `${c} -j ${svc}`);
    }
    if (!scope || scope.names.has(s.name)) serviceChains(n, s, nat);
  }
  // sorted so the entry chain does not change when services are listed in another order
  const entry = [...new Set(services.filter((s) => s.endpoints.length).map((s) => bucketOf(s.vip)))].sort();
  nat.set(n.services, [
    ...entry.map((cidr) => `-d ${cidr} -m comment --comment "VIPs in ${cidr}" -j ${n.bucketCidr(cidr)}`),
    `-m comment --comment "node ports; must be the last rule" -m addrtype --dst-type LOCAL -j ${n.nodePorts}`,
  ]);
  for (const [b, rules] of buckets) nat.set(b, rules);
  nat.set(n.nodePorts, nodePorts);
  nat.set(n.markMasq, [`-j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`]);
  nat.set(n.postrouting, [
    `-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`,
    `-j MARK --set-xmark ${MASQ_MARK}/0x0`,
    `-m comment --comment "boxkit service traffic requiring SNAT" -j MASQUERADE --random-fully`,
  ]);
  rs.chains.filter.set(n.services, rejects);
  rs.hooks = hooks(n);
  return rs;
}
