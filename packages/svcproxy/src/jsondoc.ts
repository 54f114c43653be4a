/**
 * Where the service entries sit in a JSON services file, by byte offset,
 * without parsing it: a one-service update compares the new file with the
 * stored one byte for byte and parses only the entries in the part that
 * differs (delta.ts). Only the plain shapes are indexed, `[e, ...]` and
 * `{"services": [e, ...]}` with JSON whitespace around; anything else
 * (YAML, a BOM, other keys) takes the ordinary path.
 */

/** JSON's whitespace: space, tab, LF, CR. */
const isWs = (c: number): boolean => c === 32 || c === 9 || c === 10 || c === 13;

export function skipWs(b: Uint8Array, i: number, end = b.length): number {
  while (i < end && isWs(b[i]!)) i++;
  return i;
}

/**
 * The end of the JSON value that starts at `i` (its extent only: strings,
 * nesting and scalars are skipped, not checked; the caller JSON.parses what
 * it keeps), or -1 when it runs past `end` or meets a byte >= 0x80 (a
 * latin1 slice of such text would not read as the UTF-8 file does).
 */
export function valueEnd(b: Uint8Array, i: number, end = b.length): number {
  const c = b[i];
  if (c === undefined || i >= end) return -1;
  if (c === 0x22) return stringEnd(b, i, end);
  if (c === 0x7b || c === 0x5b) {
    let depth = 0;
    for (; i < end; i++) {
      const x = b[i]!;
      if (x === 0x22) {
        i = stringEnd(b, i, end) - 1;
        if (i < 0) return -1;
      } else if (x === 0x7b || x === 0x5b) depth++;
      else if (x === 0x7d || x === 0x5d) {
        if (--depth === 0) return i + 1;
      } else if (x >= 0x80) return -1;
    }
    return -1;
  }
  // a number or a literal: up to the next delimiter
  for (; i < end; i++) {
    const x = b[i]!;
    if (x === 0x2c || x === 0x5d || x === 0x7d || isWs(x)) return i;
    if (x >= 0x80) return -1;
  }
  return i;
}

function stringEnd(b: Uint8Array, i: number, end: number): number {
  for (i++; i < end; i++) {
    const x = b[i]!;
    if (x === 0x5c) i++;
    else if (x === 0x22) return i + 1;
    else if (x >= 0x80) return -1;
  }
  return -1;
}

/** The services array of a document: after its `[`, at its `]`, and each entry's [start, end). */
export interface DocIndex {
  open: number;
  close: number;
  starts: number[];
  ends: number[];
}

const SERVICES_KEY = Buffer.from('"services"');

/**
 * Index a document that JSON.parse already accepted (so only its shape is
 * checked here), or undefined when it is not one of the plain shapes.
 */
export function indexDoc(b: Uint8Array): DocIndex | undefined {
  let i = skipWs(b, 0);
  let wrapped = false;
  if (b[i] === 0x7b) {
    wrapped = true;
    i = skipWs(b, i + 1);
    if (!SERVICES_KEY.equals(b.subarray(i, i + SERVICES_KEY.length))) return undefined;
    i = skipWs(b, i + SERVICES_KEY.length);
    if (b[i] !== 0x3a) return undefined;
    i = skipWs(b, i + 1);
  }
  if (b[i] !== 0x5b) return undefined;
  const open = i + 1;
  const starts: number[] = [];
  const ends: number[] = [];
  i = skipWs(b, open);
  if (b[i] !== 0x5d) {
    for (;;) {
      const e = valueEnd(b, i);
      if (e < 0) return undefined;
      starts.push(i);
      ends.push(e);
      i = skipWs(b, e);
      if (b[i] === 0x5d) break;
      if (b[i] !== 0x2c) return undefined;
      i = skipWs(b, i + 1);
    }
  }
  const close = i;
  i = skipWs(b, close + 1);
  if (wrapped) {
    if (b[i] !== 0x7d) return undefined;
    i = skipWs(b, i + 1);
  }
  return i === b.length ? { open, close, starts, ends } : undefined;
}

/** A key given twice in one JSON object: JSON.parse keeps the last, YAML refuses it; so do we. */
export interface DuplicateKey {
  key: string;
  /** offset of the second occurrence in the text */
  at: number;
  /** where, as a path: services[3] */
  path: string;
}

// a key is a string followed by `:`; every key ends in one match of this (a string value may too: then the exact scan decides)
const KEY_END = /"[ \t\n\r]*:/g;

/**
 * How many `":` a JSON text has: at least one per key (more only when a
 * string value holds `":`). When the objects JSON.parse made hold fewer
 * keys than this, a key may repeat: findDuplicate tells. (A regex over the
 * text: ~2 ms at 10k services, 1.6 MB, in a cold process.)
 */
export function keyMarks(text: string): number {
  KEY_END.lastIndex = 0;
  let marks = 0;
  while (KEY_END.test(text)) marks++;
  return marks;
}

/** How many keys the parsed objects hold, all levels down. */
function keyCount(v: object): number {
  if (Array.isArray(v)) {
    let n = 0;
    for (let i = 0; i < v.length; i++) {
      const x: unknown = v[i];
      if (x !== null && typeof x === 'object') n += keyCount(x);
    }
    return n;
  }
  const keys = Object.keys(v);
  let n = keys.length;
  for (let i = 0; i < keys.length; i++) {
    const x: unknown = (v as Record<string, unknown>)[keys[i]!];
    if (x !== null && typeof x === 'object') n += keyCount(x);
  }
  return n;
}

/**
 * The first key given twice in one object of `text`, a JSON text that
 * JSON.parse read as `parsed`, or undefined. The usual answer costs a count
 * (keyMarks against the parsed keys); the text is read again, token by
 * token, only when they differ. (apply counts the keys its checks read
 * instead of walking the parsed document again: spec.ts JsonKeys.)
 */
export function duplicateKey(text: string, parsed: unknown): DuplicateKey | undefined {
  const keys = parsed !== null && typeof parsed === 'object' ? keyCount(parsed) : 0;
  return keyMarks(text) > keys ? findDuplicate(text) : undefined;
}

/** Each open object's keys and path; each open array's path and next index. */
type Open = { keys: Set<string>; path: string; key?: string } | { index: number; path: string };

/** The first key given twice in one object of a JSON text (one JSON.parse accepted), read token by token. */
export function findDuplicate(text: string): DuplicateKey | undefined {
  const stack: Open[] = [];
  /** the path of the value that starts next */
  const here = (): string => {
    const top = stack[stack.length - 1];
    if (!top) return '';
    if ('keys' in top) return top.path ? `${top.path}.${top.key}` : top.key!;
    return `${top.path}[${top.index}]`;
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x7b /* { */) stack.push({ keys: new Set(), path: here() });
    else if (c === 0x5b /* [ */) stack.push({ index: 0, path: here() });
    else if (c === 0x7d || c === 0x5d) stack.pop();
    else if (c === 0x2c /* , */) {
      const top = stack[stack.length - 1];
      if (top && 'index' in top) top.index++;
    } else if (c === 0x22 /* " */) {
      const start = i;
      for (i++; text.charCodeAt(i) !== 0x22; i++) if (text.charCodeAt(i) === 0x5c) i++;
      const top = stack[stack.length - 1];
      let j = i + 1;
      while (j < text.length && /[ \t\n\r]/.test(text[j]!)) j++;
      if (top && 'keys' in top && text[j] === ':') {
        const key = JSON.parse(text.slice(start, i + 1)) as string;
        if (top.keys.has(key)) return { key, at: start, path: top.path };
        top.keys.add(key);
        top.key = key;
        i = j;
      }
    }
  }
  return undefined;
}

/** 1-based line and column of an offset. */
export function lineColumn(text: string, at: number): { line: number; column: number } {
  let line = 1;
  let from = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < at; i = text.indexOf('\n', i + 1)) line++, (from = i + 1);
  return { line, column: at - from + 1 };
}
