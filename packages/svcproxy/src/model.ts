/**
 * What a Service is, and the checks that reject bad input before anything
 * touches the kernel: a VIP is an IPv4 address, ports are 1-65535, a
 * NodePort sits in the node-port range, names and VIP:ports are unique.
 */
import { UsageError } from '@boxkit/common/errors';

export type Protocol = 'tcp' | 'udp';
export const PROTOCOLS: readonly Protocol[] = ['tcp', 'udp'];

export interface Endpoint {
  ip: string;
  port: number;
}

export interface Service {
  name: string;
  protocol: Protocol;
  vip: string;
  port: number;
  nodePort?: number;
  endpoints: Endpoint[];
  /** ClientIP session affinity: seconds a client sticks to its endpoint. */
  affinitySeconds?: number;
}

export interface PortRange {
  min: number;
  max: number;
}

/** Kubernetes' default --service-node-port-range. */
export const DEFAULT_NODEPORT_RANGE: PortRange = { min: 30000, max: 32767 };
/** Kubernetes' default ClientIP affinity timeout (3 hours), and its maximum (1 day). */
export const DEFAULT_AFFINITY_SECONDS = 10800;
const MAX_AFFINITY_SECONDS = 86400;

/** Service names end up in rule comments and state: keep them plain (k8s-like `ns/name` allowed). */
const NAME = /^[A-Za-z0-9]([A-Za-z0-9_.:/-]{0,62})$/;
const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * A name is text; a number or a boolean (`"name": 2048` in JSON; YAML's
 * plain scalars are taken as written before this) is read as its text,
 * which is a valid name when it looks like one.
 */
export function checkName(name: unknown): string {
  if (name === undefined || name === null || name === '') throw new UsageError('a service has no name', 'each service needs name: (1-63 letters, digits, \'_\', \'.\', \':\', \'/\', \'-\')');
  const text = (typeof name === 'number' && Number.isFinite(name)) || typeof name === 'boolean' ? String(name) : name;
  if (typeof text !== 'string') throw new UsageError(`service name ${JSON.stringify(name)}: not a name (a ${Array.isArray(name) ? 'list' : typeof name})`);
  if (!NAME.test(text)) {
    const why = text.length > 63 ? `${text.length} characters, at most 63` : /^[A-Za-z0-9]/.test(text) ? "only letters, digits, '_', '.', ':', '/', '-'" : 'must start with a letter or digit';
    throw new UsageError(`service name '${shown(text)}': ${why}`, "use 1-63 letters, digits, '_', '.', ':', '/', '-', starting with a letter or digit");
  }
  return text;
}

/** A value as an error message shows it: on one line (a newline in it would make two). */
export const shown = (v: unknown): string => {
  const s = typeof v === 'string' ? v : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);
  return /[\x00-\x1f\x7f]/.test(s) ? JSON.stringify(s).slice(1, -1) : s;
};

export function checkIPv4(what: string, ip: unknown): string {
  if (typeof ip !== 'string' || !IPV4.test(ip)) throw new UsageError(`${what} '${shown(ip)}' is not an IPv4 address`);
  if (ip === '0.0.0.0' || ip.startsWith('127.') || /^2(2[4-9]|[3-5]\d)\./.test(ip)) {
    throw new UsageError(`${what} '${ip}' is not a usable unicast address`);
  }
  return ip;
}

export function checkPort(what: string, port: unknown, range: PortRange = { min: 1, max: 65535 }, unit = 'a port'): number {
  const n = typeof port === 'string' && /^\d+$/.test(port) ? Number(port) : port;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < range.min || n > range.max) {
    throw new UsageError(`${what} '${shown(port)}' is not ${unit} in ${range.min}-${range.max}`);
  }
  return n;
}

/**
 * The usual `a.b.c.d:port` without regexes (a full apply reads one per
 * endpoint: 50k at 10k services): the endpoint, or undefined for anything
 * unusual (a leading zero, 0.x, loopback, multicast, a bad port...), which
 * parseHostPort then checks and explains.
 */
export function quickHostPort(s: string): Endpoint | undefined {
  const n = s.length;
  let i = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  let first = 0;
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return undefined; // a leading zero
      octet = octet * 10 + c - 48;
      if (octet > 255) return undefined;
      digits++;
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (dots++ === 0) first = octet;
      octet = 0;
      digits = 0;
    } else if (c === 58) break;
    else return undefined;
  }
  // 0.0.0.0, 127/8 and 224-255 are refused by checkIPv4, with a message
  if (dots !== 3 || digits === 0 || first === 0 || first === 127 || first >= 224 || i + 1 >= n) return undefined;
  let port = 0;
  for (let j = i + 1; j < n; j++) {
    const c = s.charCodeAt(j);
    if (c < 48 || c > 57) return undefined;
    port = port * 10 + c - 48;
    if (port > 65535) return undefined;
  }
  return port === 0 ? undefined : { ip: s.slice(0, i), port };
}

/** `IP:PORT` -> {ip, port}. */
export function parseHostPort(what: string, s: unknown): Endpoint {
  if (typeof s !== 'string') throw new UsageError(`${what} '${shown(s)}' is not IP:PORT`);
  const quick = quickHostPort(s);
  if (quick) return quick;
  const m = /^([^:]+):([^:]*)$/.exec(s);
  if (!m) throw new UsageError(`${what} '${shown(s)}' is not IP:PORT`, 'for example 10.96.0.10:80');
  return { ip: checkIPv4(what, m[1]), port: checkPort(`${what} port`, m[2]) };
}

export function parseProtocol(p: unknown): Protocol {
  const s = typeof p === 'string' ? p.toLowerCase() : p;
  if (!PROTOCOLS.includes(s as Protocol)) throw new UsageError(`unknown protocol '${shown(p)}'`, 'use tcp or udp');
  return s as Protocol;
}

/** `clientip`, `clientip:SECONDS`, `none`, or the Kubernetes object form. */
export function parseAffinity(a: unknown): number | undefined {
  if (a === undefined || a === null || a === 'none' || a === 'None') return undefined;
  let type: unknown = a;
  let secs: unknown = DEFAULT_AFFINITY_SECONDS;
  if (typeof a === 'string' && a.includes(':')) {
    // at the first colon: clientip:60:5 is not clientip:60
    const colon = a.indexOf(':');
    [type, secs] = [a.slice(0, colon), a.slice(colon + 1)];
  } else if (typeof a === 'object') {
    const o = a as Record<string, unknown>;
    // a misspelt key (timeout:) must not leave the default of 3 hours in place
    const extra = Object.keys(o).find((k) => k !== 'type' && k !== 'timeoutSeconds');
    if (extra !== undefined) throw new UsageError(`affinity: unknown field '${shown(extra)}'`, 'fields: type, timeoutSeconds');
    type = o.type;
    secs = o.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
  }
  if (typeof type !== 'string' || type.toLowerCase() !== 'clientip') {
    throw new UsageError(`unknown affinity '${shown(a)}'`, 'use clientip or clientip:SECONDS');
  }
  return checkPort('affinity timeout', secs, { min: 1, max: MAX_AFFINITY_SECONDS }, 'a number of seconds');
}

export function parseRange(s: string): PortRange {
  const m = /^(\d+)-(\d+)$/.exec(s);
  const r = m ? { min: Number(m[1]), max: Number(m[2]) } : undefined;
  if (!r || r.min < 1 || r.max > 65535 || r.min > r.max) throw new UsageError(`invalid node port range '${s}'`, 'for example 30000-32767');
  return r;
}

/** Check a whole set together: unique names, VIP:ports and NodePorts. */
export function checkServices(services: readonly Service[]): void {
  const names = new Set<string>();
  const vips = new Map<string, string>(); // `PROTO IP:PORT` -> service
  const nodePorts = new Map<string, string>(); // `PROTO PORT` -> service
  const once = (seen: Map<string, string>, key: string, name: string, what: () => string) => {
    const other = seen.get(key);
    if (other !== undefined) throw new UsageError(`service '${name}': ${what()} is also used by '${other}'`);
    seen.set(key, name);
  };
  for (const s of services) {
    if (names.has(s.name)) throw new UsageError(`duplicate service name '${s.name}'`);
    names.add(s.name);
    once(vips, `${s.protocol} ${s.vip}:${s.port}`, s.name, () => `${s.protocol} ${s.vip}:${s.port}`);
    if (s.nodePort !== undefined) once(nodePorts, `${s.protocol} ${s.nodePort}`, s.name, () => `${s.protocol} node port ${s.nodePort}`);
    const eps = s.endpoints;
    if (eps.length <= 16) {
      // a few endpoints (the usual case): compare pairs instead of making a set of IP:PORT strings
      for (let i = 1; i < eps.length; i++) {
        for (let j = 0; j < i; j++) {
          if (eps[i]!.ip === eps[j]!.ip && eps[i]!.port === eps[j]!.port) throw new UsageError(`service '${s.name}': endpoint ${endpointText(eps[i]!)} is listed twice`);
        }
      }
      continue;
    }
    const set = new Set<string>();
    for (const e of eps) {
      const k = endpointText(e);
      if (set.has(k)) throw new UsageError(`service '${s.name}': endpoint ${k} is listed twice`);
      set.add(k);
    }
  }
}

export const endpointText = (e: Endpoint): string => `${e.ip}:${e.port}`;
