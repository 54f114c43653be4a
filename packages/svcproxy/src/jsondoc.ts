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
