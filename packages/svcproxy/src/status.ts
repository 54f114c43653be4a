/**
 * `ls`: the stored services joined with what the kernel has for them: are
 * their chains there, and how many packets each endpoint's DNAT rule took.
 * With a damaged or stale state, or none while the kernel has services of
 * the prefix, the services are read back from the kernel's rules.
 */
import { saveTables, type Backend, type BackendChoice, chooseBackend } from './backend.js';
import { endpointText, type Protocol, type Service } from './model.js';
import { norm } from './diff.js';
import { DEFAULT_PREFIX, Names } from './names.js';
import { TABLES } from './rules.js';
import { parseSave, type Saved } from './saved.js';
import { CorruptState, loadState, noStateMessage, readPending, StaleState, storedList, type StoredState } from './store.js';

export interface EndpointStatus {
  ip: string;
  port: number;
  chain: string;
  /** packets/bytes through this endpoint's DNAT rule (new connections) */
  packets: number;
  bytes: number;
}

export interface ServiceStatus {
  name: string;
  protocol: string;
  vip: string;
  port: number;
  nodePort: number | null;
  affinitySeconds: number | null;
  chain: string | null;
  /** the kernel has every chain of this service (or its REJECT rule when it has no endpoints) */
  inKernel: boolean;
  packets: number;
  endpoints: EndpointStatus[];
}

export interface ListResult {
  prefix: string;
  backend: Backend;
  services: ServiceStatus[];
  /** the state file was damaged, stale or missing (with services in the kernel): the services were read back from the kernel's rules */
  fromKernel?: boolean;
}

function status(n: Names, s: Service, saved: Saved): ServiceStatus {
  const svc = n.svc(s);
  const eps = s.endpoints.map((e) => {
    const chain = n.sep(s, e);
    const c = saved.counters.get(`nat ${chain} 1`) ?? { packets: 0, bytes: 0 };
    return { ip: e.ip, port: e.port, chain, packets: c.packets, bytes: c.bytes };
  });
  const inKernel = s.endpoints.length
    ? saved.chains.nat.has(svc) && eps.every((e) => saved.chains.nat.has(e.chain))
    : (saved.chains.filter.get(n.services) ?? []).some((r) => r.includes(`${s.name} has no endpoints`) && r.includes(`-d ${s.vip}/32`));
  return {
    name: s.name,
    protocol: s.protocol,
    vip: s.vip,
    port: s.port,
    nodePort: s.nodePort ?? null,
    affinitySeconds: s.affinitySeconds ?? null,
    chain: s.endpoints.length ? svc : null,
    inKernel,
    packets: eps.reduce((a, e) => a + e.packets, 0),
    endpoints: eps,
  };
}

export async function listServices(opts: { prefix?: string; backend?: BackendChoice; warn?: (message: string) => void } = {}): Promise<ListResult> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const n = new Names(prefix);
  let state: StoredState | undefined;
  /** the stored services cannot be trusted (or there are none while the kernel has some): list what the kernel's rules describe */
  let fromKernel = false;
  try {
    state = loadState(prefix);
  } catch (e) {
    if (!(e instanceof CorruptState)) throw e;
    // still show what the kernel has: that is what a flush or an apply would work on
    opts.warn?.(`warning: ${e.message}: listing the services the kernel has`);
    fromKernel = true;
  }
  // an earlier sync stopped between its restore and its state write: the state may be the one before it
  if (!fromKernel && readPending(prefix)) {
    opts.warn?.('warning: an earlier sync stopped between iptables-restore and its state write: listing the services the kernel has (the next apply, add, rm or flush repairs the state)');
    fromKernel = true;
  }
  const backend = chooseBackend(opts.backend && opts.backend !== 'auto' ? opts.backend : state?.backend);
  const saved = parseSave(await saveTables(backend, TABLES, true), n);
  let services: Service[] = [];
  if (!fromKernel && state) {
    try {
      services = storedList(state);
    } catch (e) {
      // an older svcproxy's services that today's checks refuse: the kernel's rules say what they are
      if (!(e instanceof StaleState)) throw e;
      opts.warn?.(`warning: ${e.message}: listing the services the kernel has`);
      fromKernel = true;
    }
  }
  if (fromKernel) services = kernelServices(saved, n);
  else if (!state) {
    // no state file (another BOXKIT_STATE_DIR, or it was deleted) is not "no services" while the kernel has some
    const held = kernelServices(saved, n);
    if (held.length) {
      opts.warn?.(`warning: ${noStateMessage(prefix, held.length)}: listing the services the kernel has`);
      services = held;
      fromKernel = true;
    }
  }
  return { prefix, backend, services: services.map((s) => status(n, s, saved)), ...(fromKernel ? { fromKernel: true } : {}) };
}

const BUCKET_RULE = /^-d (\S+)\/32 -p (\w+) -m comment --comment (\S+) cluster IP -m \w+ --dport (\d+) -j (\S+)$/;
const NODE_PORT_RULE = /^-p \w+ -m comment --comment \S+ node port -m \w+ --dport (\d+) -j (\S+)$/;
const ENDPOINT_RULE = /^-m comment --comment \S+ -> ([\d.]+):(\d+) .*-j \S+$/;
const AFFINITY = / --rcheck --seconds (\d+) /;
const REJECT_RULE = /^-d (\S+)\/32 -p (\w+) -m comment --comment (\S+) has no endpoints -m \w+ --dport (\d+) -j REJECT/;
const REJECT_NODE_PORT = /^(?:! -d 127\.0\.0\.0\/8 )?-p \w+ -m comment --comment (\S+) has no endpoints -m addrtype --dst-type LOCAL -m \w+ --dport (\d+) -j REJECT/;

/** The services our rules in the kernel describe (rules.ts read backwards), for when the state cannot be trusted. */
export function kernelServices(saved: Saved, n: Names): Service[] {
  const out: Service[] = [];
  const bySvc = new Map<string, Service>();
  const nat = saved.chains.nat;
  for (const [chain, rules] of nat) {
    if (!chain.startsWith(`${n.prefix}-SVB-`)) continue;
    for (const r of rules) {
      const m = BUCKET_RULE.exec(norm(r));
      if (!m) continue;
      const s: Service = { name: m[3]!, protocol: m[2] as Protocol, vip: m[1]!, port: Number(m[4]), endpoints: [] };
      for (const rule of nat.get(m[5]!) ?? []) {
        const x = norm(rule);
        const seconds = AFFINITY.exec(x);
        if (seconds) s.affinitySeconds = Number(seconds[1]);
        const e = seconds ? undefined : ENDPOINT_RULE.exec(x);
        if (e) s.endpoints.push({ ip: e[1]!, port: Number(e[2]) });
      }
      bySvc.set(m[5]!, s);
      out.push(s);
    }
  }
  for (const r of nat.get(n.nodePorts) ?? []) {
    const m = NODE_PORT_RULE.exec(norm(r));
    const s = m && bySvc.get(m[2]!);
    if (s) s.nodePort = Number(m[1]);
  }
  const empty = new Map<string, Service>();
  for (const r of saved.chains.filter.get(n.services) ?? []) {
    const x = norm(r);
    const m = REJECT_RULE.exec(x);
    if (m) {
      const s: Service = { name: m[3]!, protocol: m[2] as Protocol, vip: m[1]!, port: Number(m[4]), endpoints: [] };
      empty.set(s.name, s);
      out.push(s);
      continue;
    }
    const p = REJECT_NODE_PORT.exec(x);
    const s = p && empty.get(p[1]!);
    if (s) s.nodePort = Number(p[2]);
  }
  return out;
}

export const endpointsText = (s: ServiceStatus): string => s.endpoints.map((e) => `${endpointText(e)}(${e.packets})`).join(',') || '-';
