/**
 * `ls`: the stored services joined with what the kernel has for them: are
 * their chains there, and how many packets each endpoint's DNAT rule took.
 */
import { saveTables, type Backend, type BackendChoice, chooseBackend } from './backend.js';
import { endpointText, type Service } from './model.js';
import { DEFAULT_PREFIX, Names } from './names.js';
import { TABLES } from './rules.js';
import { parseSave, type Saved } from './saved.js';
import { loadState, storedList } from './store.js';

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

export async function listServices(opts: { prefix?: string; backend?: BackendChoice } = {}): Promise<ListResult> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  const n = new Names(prefix);
  const state = loadState(prefix);
  const backend = chooseBackend(opts.backend && opts.backend !== 'auto' ? opts.backend : state?.backend);
  const saved = parseSave(await saveTables(backend, TABLES, true), n);
  return { prefix, backend, services: (state ? storedList(state) : []).map((s) => status(n, s, saved)) };
}

export const endpointsText = (s: ServiceStatus): string => s.endpoints.map((e) => `${endpointText(e)}(${e.packets})`).join(',') || '-';
