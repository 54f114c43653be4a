/**
 * What was asked for, kept in the state dir (one file per chain prefix) and
 * changed only under a lock. The kernel stays the truth: a reconciling sync
 * reads iptables-save; the stored services are what a partial sync trusts.
 *
 * The state is the services document itself (the JSON file last applied, or
 * one add/rm made), with an index, so a one-service update reads no more
 * than it changes: the new file is compared with the stored one byte for
 * byte, only the entries in the part that differs are parsed and checked,
 * and the other entries were checked when stored (delta.ts). One file,
 * written whole and atomically (temp file, rename), under a CRC-32:
 *
 *   svcproxy-state 2 CRC\n      CRC: crc32 of everything after this line, 8 hex digits
 *   {header JSON}\n             prefix, backend, nodePortRange, n, open, close, docLen, idxLen, cidrs
 *   doc                         the document (docLen bytes)
 *   idx                         n lines `NAME\tPROTO VIP:PORT\tPROTO NODEPORT|-\tCIDR|-\n` (idxLen bytes)
 *   offsets                     3n little-endian uint32: entry starts, entry ends (in doc), line starts (in idx)
 *
 * The index lines answer "is this name / VIP:port / NodePort taken, and by
 * which entry" and "which entries are in this /24" with a string search
 * instead of a parse of every entry.
 */
import { closeSync, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import { BoxkitError } from '@boxkit/common/errors';
import { atomicWrite, readJson, stateDir, sweepAsides, withLock, removeFile } from '@boxkit/common/state';
import { DEFAULT_NODEPORT_RANGE, endpointText, type PortRange, type Service } from './model.js';
import { bucketOf } from './names.js';
import { listOf, toService } from './spec.js';
import type { Backend } from './backend.js';

const MAGIC = 'svcproxy-state 2 ';

export interface StoredState {
  prefix: string;
  backend: Backend;
  nodePortRange: PortRange;
  /** the services document: JSON, `[...]` or `{"services": [...]}` */
  doc: Buffer;
  /** after the services array's `[`, and at its `]` */
  open: number;
  close: number;
  /** entry i is doc[starts[i], ends[i]) */
  starts: Uint32Array;
  ends: Uint32Array;
  /** one index line per entry (see above), latin1 */
  idx: string;
  lineStarts: Uint32Array;
  /** the /24 buckets that hold a service with endpoints, sorted (the entry chain's rules) */
  cidrs: string[];
}

interface Header {
  prefix: string;
  backend: Backend;
  nodePortRange: PortRange;
  n: number;
  open: number;
  close: number;
  docLen: number;
  idxLen: number;
  cidrs: string[];
}

export const statePath = (prefix: string): string => stateDir('svcproxy', `${prefix}.state`);
/** the first format (one JSON object with every service): read, replaced on the next write */
const v1Path = (prefix: string): string => stateDir('svcproxy', `${prefix}.json`);

export function stateExists(prefix: string): boolean {
  return existsSync(statePath(prefix)) || existsSync(v1Path(prefix));
}

// node:zlib is not in the startup snapshot: loaded when a state is read or written (~2 ms)
const crc32 = (b: Uint8Array, prev?: number): number =>
  (process.getBuiltinModule('node:zlib') as typeof import('node:zlib')).crc32(b, prev);

export class CorruptState extends BoxkitError {
  constructor(path: string, why: string) {
    super('ESTATE', `state file ${path} is corrupted (${why}); not trusted`, {
      hint: 'svcproxy apply FILE (without --partial) rebuilds it from the file and the kernel; svcproxy flush removes it',
    });
  }
}

/**
 * A whole state whose services today's checks refuse: an older svcproxy
 * stored them under looser checks (an unknown endpoint field, affinity
 * with sessionAffinity, two services on one VIP:port...), and they are
 * what the kernel holds. Not the user's fault and not damage: a sync that
 * meets it reconciles with the kernel instead of trusting it (sync.ts).
 */
export class StaleState extends BoxkitError {
  constructor(prefix: string, why: string) {
    super('ESTALESTATE', `the stored services (${statePath(prefix)}) do not pass today's checks (${why}): an older svcproxy stored them`, {
      hint: 'svcproxy apply FILE (without --partial) replaces them with FILE',
    });
  }
}

/**
 * What a command says when there is no state file (another
 * BOXKIT_STATE_DIR, or the file deleted) while the kernel holds services of
 * the prefix: not "no services". The kernel is the truth: add and rm build
 * on its services, ls lists them, apply replaces them (sync.ts, status.ts).
 */
export const noStateMessage = (prefix: string, services: number): string =>
  `no state for ${prefix} (${statePath(prefix)} is missing), but the kernel holds ${services} service(s) of it`;

/**
 * storedServices() with no state file while the kernel holds services of
 * the prefix: an empty list in their place would let a caller that builds
 * on it remove every one of them.
 */
export class MissingState extends BoxkitError {
  constructor(prefix: string, services: number) {
    super('ENOSTATE', `${noStateMessage(prefix, services)}; not trusted as none`, {
      hint: "addService / removeServices, or sync() with a function of the stored services, build on the kernel's services; listServices() lists them",
    });
  }
}

/** Read stored entries with today's checks: a refusal is a StaleState, not an error in the user's input. */
function checkedStored<T>(s: StoredState, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof BoxkitError && e.exitCode === 2) throw new StaleState(s.prefix, e.message);
    if (e instanceof SyntaxError) throw new StaleState(s.prefix, 'not JSON');
    throw e;
  }
}

/** The stored state (undefined when none); a damaged file throws CorruptState. */
export function loadState(prefix: string): StoredState | undefined {
  const path = statePath(prefix);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    let v1: { prefix: string; backend: Backend; nodePortRange?: PortRange; services: Service[] } | undefined;
    try {
      v1 = readJson(v1Path(prefix));
    } catch (e) {
      // (common's readJson names the file in a BoxkitError EBADSTATE; it threw JSON.parse's SyntaxError before)
      if (e instanceof SyntaxError || (e instanceof BoxkitError && e.code === 'EBADSTATE')) throw new CorruptState(v1Path(prefix), 'not JSON');
      throw e;
    }
    if (v1 === undefined) return undefined;
    // its services are not checked when read (they were when written): only the shape that would otherwise throw a TypeError
    if (typeof v1 !== 'object' || v1 === null || !Array.isArray(v1.services) ||
      !v1.services.every((x) => typeof x === 'object' && x !== null && Array.isArray(x.endpoints)) || (v1.backend !== 'nft' && v1.backend !== 'legacy')) {
      throw new CorruptState(v1Path(prefix), 'not a svcproxy state');
    }
    return fromServices(v1.prefix ?? prefix, v1.backend, v1.nodePortRange ?? DEFAULT_NODEPORT_RANGE, v1.services);
  }
  return decode(buf, path);
}

/**
 * The backend the state names, read from its header alone (the state of 10k
 * services is MBs); undefined when there is none or it cannot be read (a
 * whole read, loadState, says why).
 */
export function statedBackend(prefix: string): Backend | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(statePath(prefix), 'r');
    let text = '';
    const buf = Buffer.alloc(65536);
    for (let lines = 0, n; lines < 2 && (n = readSync(fd, buf, 0, buf.length, null)) > 0;) {
      text += buf.toString('latin1', 0, n);
      lines = text.split('\n').length - 1;
    }
    const backend = (JSON.parse(text.split('\n')[1] ?? '') as Partial<Header>).backend;
    return backend === 'nft' || backend === 'legacy' ? backend : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

export function decode(buf: Buffer, path: string): StoredState {
  const nl = buf.indexOf(10);
  const first = buf.toString('latin1', 0, nl < 0 ? Math.min(buf.length, 64) : nl);
  if (nl < 0 || !first.startsWith(MAGIC) || !/^[0-9a-f]{8}$/.test(first.slice(MAGIC.length))) throw new CorruptState(path, 'bad first line');
  const body = buf.subarray(nl + 1);
  if (crc32(body) !== parseInt(first.slice(MAGIC.length), 16)) throw new CorruptState(path, 'checksum mismatch');
  const hl = body.indexOf(10);
  let h: Header;
  try {
    h = JSON.parse(body.toString('latin1', 0, hl)) as Header;
  } catch {
    throw new CorruptState(path, 'bad header');
  }
  const at = hl + 1;
  if (hl < 0 || at + h.docLen + h.idxLen + 12 * h.n !== body.length) throw new CorruptState(path, 'wrong length');
  const doc = body.subarray(at, at + h.docLen); // no copy: the next state is made of slices of it
  const idx = body.toString('latin1', at + h.docLen, at + h.docLen + h.idxLen);
  const off = new Uint32Array(3 * h.n);
  Buffer.from(off.buffer).set(body.subarray(at + h.docLen + h.idxLen));
  return {
    prefix: h.prefix, backend: h.backend, nodePortRange: h.nodePortRange, doc, open: h.open, close: h.close,
    starts: off.subarray(0, h.n), ends: off.subarray(h.n, 2 * h.n), idx, lineStarts: off.subarray(2 * h.n), cidrs: h.cidrs,
  };
}

/** The state file's bytes (made apart from writing it, so a sync can make it while iptables-restore commits). */
export function encode(s: StoredState): Buffer {
  const n = s.starts.length;
  const h: Header = {
    prefix: s.prefix, backend: s.backend, nodePortRange: s.nodePortRange, n, open: s.open, close: s.close,
    docLen: s.doc.length, idxLen: s.idx.length, cidrs: s.cidrs,
  };
  const off = new Uint32Array(3 * n);
  off.set(s.starts, 0);
  off.set(s.ends, n);
  off.set(s.lineStarts, 2 * n);
  // one copy of the parts into the file's buffer; the checksum runs over them in place
  const parts = [Buffer.from(`${JSON.stringify(h)}\n`, 'latin1'), s.doc, Buffer.from(s.idx, 'latin1'), Buffer.from(off.buffer)];
  let crc = 0;
  // an empty part is skipped: the offsets of no services are a Buffer over an empty ArrayBuffer, whose data pointer is
  // NULL, and zlib's crc32(crc, NULL, 0) answers 0 (its way of asking for the initial value), not crc: the state of
  // 0 services (rm of the last one, apply of []) would be stored under CRC 00000000 and read back as corrupted
  for (const p of parts) if (p.length) crc = crc32(p, crc);
  return Buffer.concat([Buffer.from(`${MAGIC}${crc.toString(16).padStart(8, '0')}\n`, 'latin1'), ...parts]);
}

export function writeState(prefix: string, bytes: Buffer): void {
  atomicWrite(statePath(prefix), bytes);
  removeFile(v1Path(prefix));
  removeFile(pendingPath(prefix));
  sweepStateAsides(prefix);
}

export function dropState(prefix: string): void {
  removeFile(statePath(prefix));
  removeFile(v1Path(prefix));
  removeFile(pendingPath(prefix));
  sweepStateAsides(prefix);
}

/** The state and marker files a sync killed as it wrote them left aside (PREFIX.pending.PID.tmp): under the lock, once a write has succeeded. */
function sweepStateAsides(prefix: string): void {
  sweepAsides(dirname(statePath(prefix)), [basename(statePath(prefix)), basename(pendingPath(prefix))]);
}

/**
 * The pending marker: written (under the lock) before a sync sends the text
 * with COMMIT, removed when the new state is written. Found by a later sync,
 * it says the process stopped in between: the kernel may hold the new
 * services while the state still has the old ones, so that sync does not
 * trust the state (no partial sync), and add/rm build on the document the
 * stopped sync was writing (`svcproxy-pending 1 BACKEND\n` + JSON document).
 */
export const pendingPath = (prefix: string): string => stateDir('svcproxy', `${prefix}.pending`);
const PENDING = 'svcproxy-pending 1 ';

export function readPending(prefix: string): Buffer | undefined {
  try {
    return readFileSync(pendingPath(prefix));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    return undefined;
  }
}

export function writePending(prefix: string, bytes: Buffer): void {
  atomicWrite(pendingPath(prefix), bytes);
}

/** Put the marker back as it was (none: removed), after a sync that failed with the kernel as before it. */
export function restorePending(prefix: string, was: Buffer | undefined): void {
  if (was) writePending(prefix, was);
  else removeFile(pendingPath(prefix));
}

export const pendingBytes = (backend: Backend, doc: Buffer): Buffer => Buffer.concat([Buffer.from(`${PENDING}${backend}\n`, 'latin1'), doc]);

/** The state the stopped sync was writing, from its marker (undefined when the marker cannot be read). */
export function pendingState(prefix: string, marker: Buffer, index: (doc: Buffer) => { open: number; close: number; starts: number[]; ends: number[] } | undefined): StoredState | undefined {
  const nl = marker.indexOf(10);
  const first = marker.toString('latin1', 0, nl < 0 ? 0 : nl);
  const backend = first.slice(PENDING.length);
  if (!first.startsWith(PENDING) || (backend !== 'nft' && backend !== 'legacy')) return undefined;
  const doc = marker.subarray(nl + 1);
  try {
    const services = listOf(JSON.parse(doc.toString('utf8'))).map((o) => toService(o, ANY_PORT));
    const at = index(doc);
    return fromServices(prefix, backend, MIXED_RANGE, services, at && { bytes: doc, ...at });
  } catch {
    return undefined;
  }
}

export function locked<T>(prefix: string, fn: () => Promise<T>): Promise<T> {
  return withLock(stateDir('svcproxy', `${prefix}.lock`), fn);
}

/** A service as a services-file entry (what add and rm store, and a document that could not be indexed). */
export function entryJson(s: Service): string {
  return JSON.stringify({
    name: s.name, protocol: s.protocol, vip: `${s.vip}:${s.port}`, ...(s.nodePort !== undefined ? { nodePort: s.nodePort } : {}),
    endpoints: s.endpoints.map(endpointText), ...(s.affinitySeconds !== undefined ? { affinity: `clientip:${s.affinitySeconds}` } : {}),
  });
}

/** A service's index line. */
export function indexLine(s: Service): string {
  return `${s.name}\t${s.protocol} ${s.vip}:${s.port}\t${s.nodePort !== undefined ? `${s.protocol} ${s.nodePort}` : '-'}\t${s.endpoints.length ? bucketOf(s.vip) : '-'}\n`;
}

export function cidrsOf(services: readonly Service[]): string[] {
  const set = new Set<string>();
  for (const s of services) if (s.endpoints.length) set.add(bucketOf(s.vip));
  return [...set].sort();
}

/** A whole state from checked services and the document they came from (its index), or a document made of them. */
export function fromServices(
  prefix: string, backend: Backend, nodePortRange: PortRange, services: readonly Service[],
  doc?: { bytes: Buffer; open: number; close: number; starts: readonly number[]; ends: readonly number[] },
): StoredState {
  const n = services.length;
  if (!doc) {
    const parts: string[] = [];
    const starts: number[] = [];
    const ends: number[] = [];
    let at = '{"services":['.length;
    for (let i = 0; i < n; i++) {
      const e = entryJson(services[i]!);
      if (i) at++;
      starts.push(at);
      ends.push((at += e.length));
      parts.push(e);
    }
    doc = { bytes: Buffer.from(`{"services":[${parts.join(',')}]}\n`, 'latin1'), open: '{"services":['.length, close: at, starts, ends };
  }
  const lineStarts = new Uint32Array(n);
  let idx = '';
  for (let i = 0; i < n; i++) {
    lineStarts[i] = idx.length;
    idx += indexLine(services[i]!);
  }
  return {
    prefix, backend, nodePortRange, doc: doc.bytes, open: doc.open, close: doc.close,
    starts: Uint32Array.from(doc.starts), ends: Uint32Array.from(doc.ends), idx, lineStarts, cidrs: cidrsOf(services),
  };
}

/** Every stored service, checked again from the document (a full pass: a reconcile, ls, or a fallback). */
export function storedList(s: StoredState): Service[] {
  return checkedStored(s, () => listOf(JSON.parse(s.doc.toString('utf8'))).map((o) => toService(o, ANY_PORT)));
}

/**
 * The node-port range of a state whose entries were checked under
 * different ranges (add or rm with another --nodeport-range than the stored
 * one): equal to no real range, so no entry is reused without a new check.
 */
export const MIXED_RANGE: PortRange = { min: 0, max: 0 };
const ANY_PORT: PortRange = { min: 1, max: 65535 };

/** Stored entry i as a Service (it was checked when stored, under its range; read again here). */
export function storedEntry(s: StoredState, i: number): Service {
  return checkedStored(s, () => toService(JSON.parse(s.doc.toString('utf8', s.starts[i], s.ends[i])), ANY_PORT));
}
