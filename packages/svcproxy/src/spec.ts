/**
 * The declarative input of `svcproxy apply`: YAML or JSON, either a list of
 * services or `{services: [...]}`. Every field is checked and unknown fields
 * are refused (a typo must not silently drop a NodePort).
 */
import { UsageError } from '@boxkit/common/errors';
import {
  checkIPv4, checkName, checkPort, checkServices, DEFAULT_NODEPORT_RANGE, parseAffinity, parseHostPort, parseProtocol, quickHostPort,
  type Endpoint, type PortRange, type Service,
} from './model.js';

const FIELDS = new Set(['name', 'protocol', 'vip', 'port', 'nodePort', 'endpoints', 'affinity', 'sessionAffinity']);

/** Parse the text of a services file (JSON is tried first: it is faster and YAML is a superset anyway). */
export async function parseDocument(text: string, source: string): Promise<unknown> {
  return (await parseDocumentAs(text, source)).doc;
}

/** parseDocument, and whether JSON read it (only a JSON document's entries can be found by byte offset: jsondoc.ts). */
export async function parseDocumentAs(text: string, source: string): Promise<{ doc: unknown; json: boolean }> {
  const r = await parseAny(text, source);
  // nothing at all (an empty file, `cat missing.yaml | svcproxy apply -`) is not "no services": it would remove every one
  if (r.doc === null || r.doc === undefined) {
    throw new UsageError(`${source}: empty document: no services given`, 'to remove every service: svcproxy flush, or apply a document that says services: []');
  }
  return r;
}

async function parseAny(text: string, source: string): Promise<{ doc: unknown; json: boolean }> {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return { doc: JSON.parse(t), json: true };
    } catch {
      // flow-style YAML also starts with { or [: let the YAML parser decide
    }
  }
  const { parse } = await import('yaml');
  try {
    return { doc: parse(text, { uniqueKeys: true }), json: false };
  } catch (e) {
    const msg = ((e as Error).message ?? String(e)).split('\n')[0];
    throw new UsageError(`${source}: malformed YAML/JSON: ${msg}`);
  }
}

function endpoint(svc: string, i: number, e: unknown): Endpoint {
  if (typeof e === 'string') return quickHostPort(e) ?? parseHostPort(`service '${svc}': endpoint`, e);
  if (e && typeof e === 'object') {
    const o = e as Record<string, unknown>;
    return { ip: checkIPv4(`service '${svc}': endpoint ${i + 1} ip`, o.ip), port: checkPort(`service '${svc}': endpoint ${i + 1} port`, o.port) };
  }
  throw new UsageError(`service '${svc}': endpoint ${i + 1} is not IP:PORT`);
}

/** One service object -> a checked Service. */
export function toService(o: unknown, range: PortRange = DEFAULT_NODEPORT_RANGE): Service {
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new UsageError('each service must be a mapping with name, vip and endpoints');
  const r = o as Record<string, unknown>;
  const name = checkName(r.name);
  for (const k of Object.keys(r)) if (!FIELDS.has(k)) throw new UsageError(`service '${name}': unknown field '${k}'`, `fields: ${[...FIELDS].join(', ')}`);
  const protocol = parseProtocol(r.protocol ?? 'tcp');
  let vip: Endpoint;
  if (typeof r.vip === 'string' && r.vip.includes(':')) {
    if (r.port !== undefined) throw new UsageError(`service '${name}': give the port in vip or in port, not both`);
    vip = parseHostPort(`service '${name}': vip`, r.vip);
  } else {
    vip = { ip: checkIPv4(`service '${name}': vip`, r.vip), port: checkPort(`service '${name}': port`, r.port) };
  }
  if (r.endpoints !== undefined && r.endpoints !== null && !Array.isArray(r.endpoints)) throw new UsageError(`service '${name}': endpoints must be a list`);
  const endpoints = ((r.endpoints as unknown[] | null | undefined) ?? []).map((e, i) => endpoint(name, i, e));
  const svc: Service = { name, protocol, vip: vip.ip, port: vip.port, endpoints };
  if (r.nodePort !== undefined && r.nodePort !== null) svc.nodePort = checkPort(`service '${name}': nodePort`, r.nodePort, range);
  const aff = parseAffinity(r.affinity ?? r.sessionAffinity);
  if (aff !== undefined) svc.affinitySeconds = aff;
  return svc;
}

export function listOf(doc: unknown): unknown[] {
  let list: unknown = doc;
  if (doc === null || doc === undefined) list = [];
  else if (!Array.isArray(doc) && typeof doc === 'object') {
    const keys = Object.keys(doc);
    if (keys.some((k) => k !== 'services')) throw new UsageError(`unknown top-level field '${keys.find((k) => k !== 'services')}'`, 'expected a list of services or {services: [...]}');
    list = (doc as { services?: unknown }).services ?? [];
  }
  if (!Array.isArray(list)) throw new UsageError('expected a list of services or {services: [...]}');
  return list;
}

/** A whole document -> checked services (names unique, VIP:ports unique, NodePorts unique). */
export function toServices(doc: unknown, range: PortRange = DEFAULT_NODEPORT_RANGE): Service[] {
  const services = listOf(doc).map((o) => toService(o, range));
  checkServices(services);
  return services;
}
