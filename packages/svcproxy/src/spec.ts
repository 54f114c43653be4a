/**
 * The declarative input of `svcproxy apply`: YAML or JSON, either a list of
 * services or `{services: [...]}`. Every field is checked and unknown fields
 * are refused (a typo must not silently drop a NodePort).
 */
import { UsageError } from '@boxkit/common/errors';
import { duplicateKey, findDuplicate, keyMarks, lineColumn } from './jsondoc.js';
import {
  checkIPv4, checkName, checkPort, checkServices, DEFAULT_NODEPORT_RANGE, parseAffinity, parseHostPort, parseProtocol, quickHostPort, shown,
  type Endpoint, type PortRange, type Service,
} from './model.js';

/** A field with a value: an empty YAML field is null and counts as absent (port, affinity and nodePort alike). */
const given = (v: unknown): boolean => v !== undefined && v !== null;

const FIELDS = new Set(['name', 'protocol', 'vip', 'port', 'nodePort', 'endpoints', 'affinity', 'sessionAffinity']);

/** Parse the text of a services file (JSON is tried first: it is faster and YAML is a superset anyway). */
export async function parseDocument(text: string, source: string): Promise<unknown> {
  const r = await parseDocumentAs(text, source);
  r.keys?.checkAll(r.doc);
  return r.doc;
}

export interface ParsedDocument {
  doc: unknown;
  /** JSON read it (only a JSON document's entries can be found by byte offset: jsondoc.ts) */
  json: boolean;
  /** JSON only: tells a key given twice, from the keys the checks read (toService, listOf); check() after the last entry */
  keys?: JsonKeys;
}

/**
 * JSON.parse keeps the last of two equal keys in an object; YAML refuses
 * them, and so does JSON here. The checks enumerate every object's keys
 * anyway (an unknown field is refused), so they count them (`read`); a
 * text with more key marks (`":`) than that repeats a key (or has `":`
 * inside a string), and only then is it read again to find which. This
 * costs a count, not a second walk of a 10k-service document.
 */
export class JsonKeys {
  read = 0;
  /** the `":` in the text: at least one per key */
  readonly marks: number;
  constructor(private readonly json: string, private readonly text: string, private readonly source: string) {
    this.marks = keyMarks(json);
  }
  /** every entry was read, with the keys of each counted */
  check(): void {
    if (this.read >= this.marks) return;
    const dup = findDuplicate(this.json);
    if (dup) throw duplicateError(this.source, dup.key, this.text, this.text.length - this.text.trimStart().length + dup.at, dup.path);
  }
  /**
   * An entry failed a check: a key given twice is the error to report (as
   * YAML's parser reports it before any value is checked), since JSON.parse
   * kept the last value and that may be what the check refused.
   */
  instead(e: unknown): unknown {
    const dup = findDuplicate(this.json);
    return dup ? duplicateError(this.source, dup.key, this.text, this.text.length - this.text.trimStart().length + dup.at, dup.path) : e;
  }
  /** check() of a document whose keys were not counted (a library caller's parseDocument) */
  checkAll(doc: unknown): void {
    const dup = duplicateKey(this.json, doc);
    if (dup) throw duplicateError(this.source, dup.key, this.text, this.text.length - this.text.trimStart().length + dup.at, dup.path);
  }
}

/** parseDocument without the duplicate-key check, which the caller makes as it reads the entries (ParsedDocument.keys). */
export async function parseDocumentAs(text: string, source: string): Promise<ParsedDocument> {
  const r = await parseAny(text, source);
  // nothing at all (an empty file, `cat missing.yaml | svcproxy apply -`) is not "no services": it would remove every one
  if (r.doc === null || r.doc === undefined) {
    throw new UsageError(`${source}: empty document: no services given`, 'to remove every service: svcproxy flush, or apply a document that says services: []');
  }
  return r;
}

async function parseAny(text: string, source: string): Promise<ParsedDocument> {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    let doc: unknown;
    let json = true;
    try {
      doc = JSON.parse(t);
    } catch {
      // flow-style YAML also starts with { or [: let the YAML parser decide
      json = false;
    }
    if (json) return { doc, json: true, keys: new JsonKeys(t, text, source) };
  }
  const yaml = await import('yaml');
  const doc = yaml.parseDocument(text, { uniqueKeys: true });
  for (const w of doc.warnings) process.emitWarning(w.message, 'YAMLWarning');
  const e = doc.errors[0];
  if (e) {
    if (e.code === 'DUPLICATE_KEY') {
      const key = duplicateYamlKey(yaml, doc, e.pos[0]);
      if (key !== undefined) throw duplicateError(source, key, text, e.pos[0]);
    }
    throw new UsageError(`${source}: malformed YAML/JSON: ${e.message.split('\n')[0]!.replace(/:$/, '')}`);
  }
  namesAsWritten(yaml, doc);
  return { doc: doc.toJS(), json: false };
}

type Yaml = typeof import('yaml');
type YamlDoc = import('yaml').Document.Parsed;

function duplicateError(source: string, key: string, text: string, at: number, path?: string): UsageError {
  const { line, column } = lineColumn(text, at);
  return new UsageError(`${source}: duplicate key '${key}' at line ${line}, column ${column}${path ? ` (in ${path})` : ''}`, 'each key may appear once in a mapping');
}

/** The key whose node starts at `at` (where the YAML parser saw it repeated). */
function duplicateYamlKey(yaml: Yaml, doc: YamlDoc, at: number): string | undefined {
  let key: string | undefined;
  yaml.visit(doc, {
    Pair(_, pair) {
      const k = pair.key;
      if (yaml.isScalar(k) && k.range?.[0] === at) {
        key = String(k.value);
        return yaml.visit.BREAK;
      }
      return undefined;
    },
  });
  return key;
}

/**
 * YAML reads `name: 2048` (or 1.10, or true) as a number (a boolean); a
 * service name is text, and those are valid names: the name is what was
 * written (1.10 stays 1.10, not 1.1). Only plain scalars: a quoted one is
 * a string already, and `name:` alone (null) stays missing.
 */
function namesAsWritten(yaml: Yaml, doc: YamlDoc): void {
  let list: unknown = doc.contents;
  if (yaml.isMap(list)) list = list.get('services', true);
  if (!yaml.isSeq(list)) return;
  for (const item of list.items) {
    if (!yaml.isMap(item)) continue;
    const name: unknown = item.get('name', true);
    if (yaml.isScalar(name) && name.type === 'PLAIN' && name.value !== null && typeof name.value !== 'string' && name.source) name.value = name.source;
  }
}

function endpoint(svc: string, i: number, e: unknown, keys: JsonKeys | undefined): Endpoint {
  if (typeof e === 'string') return quickHostPort(e) ?? parseHostPort(`service '${svc}': endpoint`, e);
  if (e && typeof e === 'object' && !Array.isArray(e)) {
    const o = e as Record<string, unknown>;
    // as for a service: a misspelt or unsupported field is refused, not dropped
    for (const k in o) {
      if (k !== 'ip' && k !== 'port') throw new UsageError(`service '${svc}': endpoint ${i + 1}: unknown field '${shown(k)}'`, 'fields: ip, port');
      if (keys) keys.read++;
    }
    return { ip: checkIPv4(`service '${svc}': endpoint ${i + 1} ip`, o.ip), port: checkPort(`service '${svc}': endpoint ${i + 1} port`, o.port) };
  }
  throw new UsageError(`service '${svc}': endpoint ${i + 1} is not IP:PORT`);
}

/**
 * One service object -> a checked Service. Every object in an entry that
 * passes is this one, its endpoint objects and its affinity object: their
 * keys are counted into `keys` (JSON).
 */
export function toService(o: unknown, range: PortRange = DEFAULT_NODEPORT_RANGE, keys?: JsonKeys): Service {
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new UsageError('each service must be a mapping with name, vip and endpoints');
  const r = o as Record<string, unknown>;
  const name = checkName(r.name);
  const fields = Object.keys(r);
  if (keys) keys.read += fields.length;
  for (const k of fields) if (!FIELDS.has(k)) throw new UsageError(`service '${name}': unknown field '${shown(k)}'`, `fields: ${[...FIELDS].join(', ')}`);
  const protocol = parseProtocol(r.protocol ?? 'tcp');
  let vip: Endpoint;
  if (typeof r.vip === 'string' && r.vip.includes(':')) {
    if (given(r.port)) throw new UsageError(`service '${name}': give the port in vip or in port, not both`);
    vip = parseHostPort(`service '${name}': vip`, r.vip);
  } else {
    const ip = checkIPv4(`service '${name}': vip`, r.vip);
    // an address alone is a port left out, not a port 'undefined'
    if (!given(r.port)) throw new UsageError(`service '${name}': vip ${ip}: needs ADDRESS:PORT (or a port field)`, `for example vip: ${ip}:80`);
    vip = { ip, port: checkPort(`service '${name}': port`, r.port) };
  }
  if (r.endpoints !== undefined && r.endpoints !== null && !Array.isArray(r.endpoints)) throw new UsageError(`service '${name}': endpoints must be a list`);
  const endpoints = ((r.endpoints as unknown[] | null | undefined) ?? []).map((e, i) => endpoint(name, i, e, keys));
  const svc: Service = { name, protocol, vip: vip.ip, port: vip.port, endpoints };
  if (r.nodePort !== undefined && r.nodePort !== null) svc.nodePort = checkPort(`service '${name}': nodePort`, r.nodePort, range);
  if (given(r.affinity) && given(r.sessionAffinity)) throw new UsageError(`service '${name}': give affinity or sessionAffinity, not both`);
  const affinity = r.affinity ?? r.sessionAffinity;
  const aff = parseAffinity(affinity);
  if (aff !== undefined) svc.affinitySeconds = aff;
  if (keys && affinity && typeof affinity === 'object') keys.read += Object.keys(affinity).length;
  return svc;
}

export function listOf(doc: unknown, counted?: JsonKeys): unknown[] {
  let list: unknown = doc;
  if (doc === null || doc === undefined) list = [];
  else if (!Array.isArray(doc) && typeof doc === 'object') {
    const keys = Object.keys(doc);
    if (counted) counted.read += keys.length;
    if (keys.some((k) => k !== 'services')) throw new UsageError(`unknown top-level field '${shown(keys.find((k) => k !== 'services'))}'`, 'expected a list of services or {services: [...]}');
    list = (doc as { services?: unknown }).services;
    // `services:` with every entry commented out (YAML null), or `{}`: no more "no services" than an empty file, and
    // as an apply it would remove every one
    if (list === null || list === undefined) {
      throw new UsageError(`no services given: ${keys.length ? '`services` is empty (null)' : 'an empty map'}`,
        'to remove every service: svcproxy flush, or apply a document that says services: []');
    }
  }
  if (!Array.isArray(list)) throw new UsageError('expected a list of services or {services: [...]}');
  return list;
}

/** A whole document -> checked services (names unique, VIP:ports unique, NodePorts unique; with `keys`, no JSON key given twice). */
export function toServices(doc: unknown, range: PortRange = DEFAULT_NODEPORT_RANGE, keys?: JsonKeys): Service[] {
  try {
    const services = listOf(doc, keys).map((o) => toService(o, range, keys));
    keys?.check();
    checkServices(services);
    return services;
  } catch (e) {
    throw keys ? keys.instead(e) : e;
  }
}
