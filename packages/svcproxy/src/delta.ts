/**
 * A partial sync whose work follows the size of the change, not the number
 * of services: the new services document is compared with the stored one
 * byte for byte (memcmp), and only the entries in the span that differs are
 * parsed and checked. Why that is exact: the bytes before the span are the
 * same, so a JSON parser reads the same entries there; the span is parsed
 * entry by entry from an entry boundary until it reaches, at a place where
 * the rest of both files is byte-identical, a boundary where the stored
 * file's parser was in the same state (just after entry j of the services
 * array, or at its `]`): from there both parse the same. Entries outside
 * the span were checked when stored, under the same node-port range.
 *
 * Anything unusual (a change outside the services array, text that is not
 * an entry, a check that fails, a name/VIP/NodePort clash, a large change)
 * returns undefined, and the caller takes the ordinary path, which reads
 * the whole file and reports its errors: a delta reports none of its own.
 */
import type { Endpoint, PortRange, Service } from './model.js';
import { checkServices } from './model.js';
import { bucketOf, Names, type ServiceNames } from './names.js';
import { toService } from './spec.js';
import { duplicateKey, skipWs, valueEnd } from './jsondoc.js';
import { cidrsOf, indexLine, storedEntry, type StoredState } from './store.js';
import type { Scope } from './rules.js';

/** More changed entries than this: the ordinary path (its cost no longer depends on the change). */
const MAX_CHANGED = 128;
/** More /24 buckets to re-render than this: the ordinary path. */
const MAX_BUCKETS = 32;

export interface Delta {
  /** stored entries [a, b) are replaced by `added` (new entries a .. a + added.length) */
  a: number;
  b: number;
  added: { start: number; end: number; svc: Service }[];
  doc: Buffer;
  /** new offset - stored offset, for the entries from b on */
  shift: number;
}

/** Length of the common prefix of x and y (memcmp in blocks, then byte by byte in the block that differs). */
function commonPrefix(x: Buffer, y: Buffer, max: number): number {
  // the first differing 64 KB block, then halves of it: memcmp all the way
  let lo = 0;
  while (lo < max && x.compare(y, lo, Math.min(max, lo + 65536), lo, Math.min(max, lo + 65536)) === 0) lo = Math.min(max, lo + 65536);
  let hi = Math.min(max, lo + 65536); // x[0, lo) === y[0, lo); they differ before hi (or hi === max)
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    if (x.compare(y, lo, mid, lo, mid) === 0) lo = mid;
    else hi = mid;
  }
  while (lo < hi && x[lo] === y[lo]) lo++;
  return lo;
}

function commonSuffix(x: Buffer, y: Buffer, max: number): number {
  const X = x.length;
  const Y = y.length;
  const same = (from: number, to: number) => x.compare(y, Y - to, Y - from, X - to, X - from) === 0; // the last [from, to) bytes
  let lo = 0;
  while (lo < max && same(lo, Math.min(max, lo + 65536))) lo = Math.min(max, lo + 65536);
  let hi = Math.min(max, lo + 65536);
  while (hi - lo > 16) {
    const mid = (lo + hi) >>> 1;
    if (same(lo, mid)) lo = mid;
    else hi = mid;
  }
  while (lo < hi && x[X - 1 - lo] === y[Y - 1 - lo]) lo++;
  return lo;
}

/** The first i with a[i] > v (a ascending). */
function upper(a: Uint32Array, v: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const m = (lo + hi) >>> 1;
    if (a[m]! <= v) lo = m + 1;
    else hi = m;
  }
  return lo;
}

/** The entry whose index line holds position `pos` of idx. */
const lineOf = (s: StoredState, pos: number): number => upper(s.lineStarts, pos) - 1;

/** The entry whose index line has `key` where the pattern puts it (`\tKEY\t`, `\tKEY\n`, or a line start for names), or -1. */
function findKey(s: StoredState, pattern: string, atLineStart = false): number {
  if (atLineStart && s.idx.startsWith(pattern)) return 0;
  const at = s.idx.indexOf(atLineStart ? `\n${pattern}` : pattern);
  return at < 0 ? -1 : lineOf(s, at + (atLineStart ? 1 : 0));
}

/** Stands for "has endpoints" in an outline: an unchanged service's own chains are not rendered, only the rules that jump to them. */
const SOME_ENDPOINTS: readonly Endpoint[] = Object.freeze([Object.freeze({ ip: '0.0.0.0', port: 0 })]);

/**
 * A stored, unchanged service as far as the shared chains (its /24
 * bucket, NODEPORTS, the filter REJECTs) need it, read from its index line
 * instead of parsing and checking its entry: name, protocol, VIP:port,
 * NodePort, and whether it has endpoints (SOME_ENDPOINTS, not the real ones).
 */
function outline(s: StoredState, i: number): Service {
  const line = s.idx.slice(s.lineStarts[i], i + 1 < s.lineStarts.length ? s.lineStarts[i + 1]! - 1 : s.idx.length - 1);
  const [name, vipKey, npKey, cidr] = line.split('\t') as [string, string, string, string];
  const sp = vipKey.indexOf(' ');
  const colon = vipKey.lastIndexOf(':');
  const svc: Service = {
    name, protocol: vipKey.slice(0, sp) as Service['protocol'], vip: vipKey.slice(sp + 1, colon), port: Number(vipKey.slice(colon + 1)),
    endpoints: cidr === '-' ? [] : (SOME_ENDPOINTS as Endpoint[]),
  };
  if (npKey !== '-') svc.nodePort = Number(npKey.slice(npKey.indexOf(' ') + 1));
  return svc;
}

/** The stored entry of this name, or -1. */
export const entryNamed = (s: StoredState, name: string): number => findKey(s, `${name}\t`, true);

/** Every entry whose index line contains `pattern`, ascending. */
function findAll(s: StoredState, pattern: string): number[] {
  const out: number[] = [];
  for (let at = s.idx.indexOf(pattern); at >= 0; at = s.idx.indexOf(pattern, at + pattern.length)) out.push(lineOf(s, at));
  return out;
}

/** The change from the stored document to `doc`, or undefined (see the file comment). */
export function docDelta(s: StoredState, doc: Buffer, range: PortRange): Delta | undefined {
  const old = s.doc;
  const n = s.starts.length;
  const min = Math.min(old.length, doc.length);
  const p = commonPrefix(old, doc, min);
  if (p === old.length && p === doc.length) return { a: n, b: n, added: [], doc, shift: 0 };
  if (p < s.open) return undefined;
  const suffixAt = old.length - commonSuffix(old, doc, min - p); // old[suffixAt..] === doc[suffixAt + shift..]
  const shift = doc.length - old.length;
  const a = upper(s.ends, p); // entries before a end inside the common prefix
  let pos = a > 0 ? s.ends[a - 1]! : s.open;
  let first = a === 0; // at the array's start (expect a value or `]`) rather than after an entry
  const added: Delta['added'] = [];
  let b = -1;
  for (;;) {
    // just after an entry: is this the stored parser's place after entry j, with the rest identical?
    if (!first && pos - shift >= suffixAt) {
      const j = upper(s.ends, pos - shift);
      if (j > 0 && s.ends[j - 1] === pos - shift && j >= a) {
        b = j;
        break;
      }
    }
    let i = skipWs(doc, pos);
    if (doc[i] === 0x5d) {
      // the array's end: the same as the stored one's, with the rest identical?
      if (i - shift === s.close && s.close >= suffixAt) b = n;
      break;
    }
    if (!first) {
      if (doc[i] !== 0x2c) break;
      i = skipWs(doc, i + 1);
    }
    const e = valueEnd(doc, i);
    if (e < 0 || added.length >= MAX_CHANGED) break;
    let svc: Service;
    try {
      const text = doc.toString('latin1', i, e);
      const o: unknown = JSON.parse(text);
      if (duplicateKey(text, o)) return undefined;
      svc = toService(o, range);
    } catch {
      return undefined; // the ordinary path says what is wrong, as it always did
    }
    added.push({ start: i, end: e, svc });
    pos = e;
    first = false;
  }
  if (b < 0) return undefined;
  // the new entries against each other, then against the stored entries they do not replace
  try {
    checkServices(added.map((x) => x.svc));
  } catch {
    return undefined;
  }
  const replaced = (j: number) => j < 0 || (j >= a && j < b);
  for (const { svc } of added) {
    if (!replaced(entryNamed(s, svc.name))) return undefined;
    if (!replaced(findKey(s, `\t${svc.protocol} ${svc.vip}:${svc.port}\t`))) return undefined;
    if (svc.nodePort !== undefined && !replaced(findKey(s, `\t${svc.protocol} ${svc.nodePort}\t`))) return undefined;
  }
  return { a, b, added, doc, shift };
}

/** Names that hash each service once: both sides of a delta render the same unchanged services (bucket members). */
export class OnceNames extends Names {
  private readonly memo = new WeakMap<Service, ServiceNames>();
  override of(s: Service): ServiceNames {
    let r = this.memo.get(s);
    if (!r) this.memo.set(s, (r = super.of(s)));
    return r;
  }
}

/** The services both sides of a delta need rendered, with the scope that renders only what the change touches. */
export interface DeltaRender {
  /** stored services the scope needs, in stored order, and the scope that renders the touched chains of them */
  before: Service[];
  scopeBefore: Scope;
  /** the same after the change, in new order */
  after: Service[];
  scopeAfter: Scope;
  /** the buckets after the change (the entry chain's list) */
  cidrs: string[];
}

function sameService(a: Service, b: Service): boolean {
  return a.protocol === b.protocol && a.vip === b.vip && a.port === b.port && a.nodePort === b.nodePort && a.affinitySeconds === b.affinitySeconds &&
    a.endpoints.length === b.endpoints.length && a.endpoints.every((e, i) => e.ip === b.endpoints[i]!.ip && e.port === b.endpoints[i]!.port);
}

/**
 * What to render for a delta: the services that changed (their own chains),
 * every member of the /24 buckets they are in (those chains list them in
 * order), and the shared chains they touch (NODEPORTS, the filter REJECTs,
 * the entry chain when a bucket appears or goes) with all their members.
 * Undefined when that is most of the services anyway.
 */
export function deltaRender(s: StoredState, d: Delta): DeltaRender | undefined {
  const n = s.starts.length;
  const oldChanged: Service[] = [];
  for (let i = d.a; i < d.b; i++) oldChanged.push(storedEntry(s, i));
  const newChanged = d.added.map((x) => x.svc);
  const names = new Set<string>();
  const buckets = new Set<string>();
  let nodePorts = false;
  let rejects = false;
  const byName = new Map(oldChanged.map((x) => [x.name, x]));
  for (const x of newChanged) {
    const o = byName.get(x.name);
    if (!o || !sameService(o, x)) names.add(x.name);
  }
  const newNames = new Set(newChanged.map((x) => x.name));
  for (const o of oldChanged) if (!newNames.has(o.name)) names.add(o.name);
  // every re-read service, changed or only moved: its bucket's and shared chains' rule order may differ
  for (const x of [...oldChanged, ...newChanged]) {
    if (x.endpoints.length) {
      buckets.add(bucketOf(x.vip));
      if (x.nodePort !== undefined) nodePorts = true;
    } else rejects = true;
  }
  if (buckets.size > MAX_BUCKETS) return undefined;
  // stored entries (outside the changed span) that the touched chains list
  const members = new Set<number>();
  for (const cidr of buckets) for (const i of findAll(s, `\t${cidr}\n`)) members.add(i);
  if (nodePorts) for (const m of s.idx.matchAll(/\t(?:tcp|udp) \d+\t[^-\n]/g)) members.add(lineOf(s, m.index!));
  if (rejects) for (const i of findAll(s, '\t-\n')) members.add(i);
  const kept = [...members].filter((i) => i < d.a || i >= d.b).sort((x, y) => x - y);
  if (kept.length > n / 2 && n > 2 * MAX_CHANGED) return undefined;
  const keptServices = new Map(kept.map((i) => [i, outline(s, i)]));
  const before: Service[] = [];
  const after: Service[] = [];
  for (const i of kept) if (i < d.a) before.push(keptServices.get(i)!), after.push(keptServices.get(i)!);
  before.push(...oldChanged);
  after.push(...newChanged);
  for (const i of kept) if (i >= d.b) before.push(keptServices.get(i)!), after.push(keptServices.get(i)!);
  // the entry chain lists every bucket: the stored list, with the touched buckets as they are now
  const cidrs = new Set(s.cidrs);
  for (const c of buckets) cidrs.delete(c);
  for (const c of cidrsOf(after)) cidrs.add(c);
  const newCidrs = [...cidrs].sort();
  const entryChanged = newCidrs.length !== s.cidrs.length || newCidrs.some((c, i) => c !== s.cidrs[i]);
  return {
    before,
    scopeBefore: { names, buckets, shared: { nodePorts, rejects, ...(entryChanged ? { cidrs: s.cidrs } : {}) } },
    after,
    scopeAfter: { names, buckets, shared: { nodePorts, rejects, ...(entryChanged ? { cidrs: newCidrs } : {}) } },
    cidrs: newCidrs,
  };
}

/** The stored state after a delta (the new document, the index spliced; the entries around the change shifted). */
export function applyDelta(s: StoredState, d: Delta, backend: StoredState['backend'], cidrs: string[]): StoredState {
  const n = s.starts.length;
  const m = d.added.length;
  const count = n - (d.b - d.a) + m;
  const starts = new Uint32Array(count);
  const ends = new Uint32Array(count);
  const lineStarts = new Uint32Array(count);
  starts.set(s.starts.subarray(0, d.a));
  ends.set(s.ends.subarray(0, d.a));
  lineStarts.set(s.lineStarts.subarray(0, d.a));
  const lineAt = (i: number) => (i < n ? s.lineStarts[i]! : s.idx.length);
  let lines = '';
  const base = lineAt(d.a);
  for (let k = 0; k < m; k++) {
    const x = d.added[k]!;
    starts[d.a + k] = x.start;
    ends[d.a + k] = x.end;
    lineStarts[d.a + k] = base + lines.length;
    lines += indexLine(x.svc);
  }
  const lineShift = base + lines.length - lineAt(d.b);
  for (let i = d.b, k = d.a + m; i < n; i++, k++) {
    starts[k] = s.starts[i]! + d.shift;
    ends[k] = s.ends[i]! + d.shift;
    lineStarts[k] = s.lineStarts[i]! + lineShift;
  }
  return {
    prefix: s.prefix, backend, nodePortRange: s.nodePortRange, doc: d.doc, open: s.open, close: s.close + d.shift,
    starts, ends, idx: s.idx.slice(0, base) + lines + s.idx.slice(lineAt(d.b)), lineStarts, cidrs,
  };
}
