import { describe, expect, it } from 'vitest';
import { diff, restoreText } from '../src/diff.js';
import { render } from '../src/rules.js';
import { applyDelta, deltaRender, docDelta, OnceNames } from '../src/delta.js';
import { indexDoc } from '../src/jsondoc.js';
import { toServices, parseDocumentAs } from '../src/spec.js';
import { DEFAULT_NODEPORT_RANGE, type Service } from '../src/model.js';
import { CorruptState, decode, encode, fromServices, storedList, type StoredState } from '../src/store.js';
import { docWith, docWithout } from '../src/edit.js';

type Entry = Record<string, unknown>;
const entry = (i: number, extra: Entry = {}): Entry => ({
  name: `ns${i % 10}/svc-${i}`, ...(i % 7 ? {} : { protocol: 'udp' }), vip: `10.96.${i >> 6}.${(i & 63) + 1}:${80 + (i % 3)}`,
  endpoints: Array.from({ length: i % 9 ? 1 + (i % 3) : 0 }, (_, j) => `10.88.${j}.${(i % 250) + 1}:8080`),
  ...(i % 5 === 0 ? { nodePort: 30000 + i } : {}),
  ...(i % 11 === 0 ? { affinity: 'clientip:60' } : {}),
  ...extra,
});
const base: Entry[] = Array.from({ length: 300 }, (_, i) => entry(i));
const wrap = (entries: Entry[], sep = ',') => Buffer.from(`{"services": [\n  ${entries.map((e) => JSON.stringify(e)).join(`${sep}\n  `)}\n]}\n`);

/** The state apply would store for this document. */
async function stateOf(doc: Buffer): Promise<StoredState> {
  const parsed = await parseDocumentAs(doc.toString('utf8'), 'f');
  const services = toServices(parsed.doc, DEFAULT_NODEPORT_RANGE);
  return fromServices('BKSVC', 'nft', DEFAULT_NODEPORT_RANGE, services, { bytes: doc, ...indexDoc(doc)! });
}

const full = (before: readonly Service[], after: readonly Service[]) => restoreText(diff(render('BKSVC', after), render('BKSVC', before)));

/** The delta path's restore text and next state, or undefined when it declines. */
function viaDelta(s: StoredState, doc: Buffer) {
  const d = docDelta(s, doc, DEFAULT_NODEPORT_RANGE);
  const dr = d && deltaRender(s, d);
  if (!d || !dr) return undefined;
  const once = new OnceNames('BKSVC');
  const text = restoreText(diff(render(once, dr.after, dr.scopeAfter), render(once, dr.before, dr.scopeBefore)));
  return { text, next: applyDelta(s, d, 'nft', dr.cidrs), read: d.added.length };
}

const edits: [string, (e: Entry[]) => Buffer][] = [
  ['endpoints of one service replaced', (e) => wrap(e.map((x, i) => (i === 42 ? { ...x, endpoints: ['10.88.9.9:1'] } : x)))],
  ['a service added last', (e) => wrap([...e, entry(1000)])],
  ['a service added first', (e) => wrap([entry(1001), ...e])],
  ['a service added in a new /24', (e) => wrap([...e.slice(0, 10), { name: 'new', vip: '10.97.0.1:80', endpoints: ['10.88.0.1:80'] }, ...e.slice(10)])],
  ['the first service removed', (e) => wrap(e.slice(1))],
  ['the last service removed', (e) => wrap(e.slice(0, -1))],
  ['a service in the middle removed', (e) => wrap(e.filter((_, i) => i !== 150))],
  ['every service removed', () => wrap([])],
  ['endpoints removed (now rejected)', (e) => wrap(e.map((x, i) => (i === 43 ? { ...x, endpoints: [] } : x)))],
  ['endpoints added to a rejected service with a NodePort', (e) => wrap(e.map((x, i) => (i === 45 ? { ...x, endpoints: ['10.88.7.7:80'] } : x)))],
  ['NodePort dropped', (e) => wrap(e.map((x, i) => (i === 55 ? (({ nodePort: _n, ...r }) => r)(x) : x)))],
  ['NodePort added', (e) => wrap(e.map((x, i) => (i === 46 ? { ...x, nodePort: 31999 } : x)))],
  ['affinity added', (e) => wrap(e.map((x, i) => (i === 47 ? { ...x, affinity: 'clientip:5' } : x)))],
  ['last services of a /24 removed', (e) => wrap(e.filter((x) => !String(x.vip).startsWith('10.96.2.')))],
  ['two services swapped', (e) => wrap(e.map((x, i) => (i === 50 ? e[51]! : i === 51 ? e[50]! : x)))],
  ['only whitespace changed', (e) => Buffer.from(wrap(e).toString().replace('},\n  {', '} ,  {'))],
  ['the same entry written with other key order', (e) => wrap(e.map((x, i) => (i === 60 ? Object.fromEntries(Object.entries(x).reverse()) : x)))],
  ['nothing changed', (e) => wrap(e)],
  ['a name moved to another service (one renamed, one added near it)', (e) => {
    const x = e.map((y, i) => (i === 70 ? { ...y, name: 'renamed' } : y));
    x.splice(72, 0, { ...entry(71), name: entry(70).name, vip: '10.99.0.1:80' });
    return wrap(x);
  }],
];

describe('a partial apply that reads only the changed entries (delta)', () => {
  it.each(edits)('writes what a full diff writes, and stores what a full apply stores: %s', async (_what, edit) => {
    const s = await stateOf(wrap(base));
    const doc = edit(base);
    const next = await stateOf(doc);
    const r = viaDelta(s, doc);
    expect(r).toBeDefined();
    expect(r!.text).toBe(full(storedList(s), storedList(next)));
    expect(r!.read).toBeLessThanOrEqual(3);
    const { starts, ends, lineStarts, idx, cidrs, open, close } = r!.next;
    expect({ starts: [...starts], ends: [...ends], lineStarts: [...lineStarts], idx, cidrs, open, close }).toEqual({
      starts: [...next.starts], ends: [...next.ends], lineStarts: [...next.lineStarts], idx: next.idx, cidrs: next.cidrs, open: next.open, close: next.close,
    });
  });

  it.each([
    ['a bad VIP', (e: Entry[]) => wrap(e.map((x, i) => (i === 42 ? { ...x, vip: '10.96.1:80' } : x)))],
    ['a NodePort outside the range', (e: Entry[]) => wrap(e.map((x, i) => (i === 42 ? { ...x, nodePort: 8080 } : x)))],
    ['a name another (unchanged) service has', (e: Entry[]) => wrap(e.map((x, i) => (i === 42 ? { ...x, name: e[200]!.name } : x)))],
    ['a VIP:port another service has', (e: Entry[]) => wrap(e.map((x, i) => (i === 42 ? { ...x, vip: e[7]!.vip } : x)))],
    ['a NodePort another service has', (e: Entry[]) => wrap(e.map((x, i) => (i === 41 ? { ...x, nodePort: 30005 } : x)))],
    ['an unknown field', (e: Entry[]) => wrap(e.map((x, i) => (i === 42 ? { ...x, prot: 'tcp' } : x)))],
    ['a key given twice (JSON.parse keeps the last)', (e: Entry[]) => Buffer.from(wrap(e).toString().replace('{"name":"ns2/svc-42",', '{"name":"ns2/svc-42","vip":"10.99.0.1:80",'))],
    ['broken JSON inside an entry', (e: Entry[]) => Buffer.from(wrap(e).toString().replace('"ns2/svc-42"', '"ns2/svc-42'))],
    ['a trailing comma', (e: Entry[]) => Buffer.from(wrap(e).toString().replace(/}\n]}/, '},\n]}'))],
    ['another top-level key', (e: Entry[]) => Buffer.from(wrap(e).toString().replace(/]}\n$/, '], "x": 1}\n'))],
    ['a change before the list', (e: Entry[]) => Buffer.from(wrap(e).toString().replace('{"services"', '{ "services"'))],
    ['YAML', (e: Entry[]) => Buffer.from(`services:\n${e.map((x) => `  - ${JSON.stringify(x)}`).join('\n')}\n`)],
    ['many entries changed', (e: Entry[]) => wrap(e.map((x, i) => (i % 2 ? { ...x, endpoints: [] } : x)))],
  ])('declines (the ordinary path reads the file and reports): %s', async (_what, edit) => {
    const s = await stateOf(wrap(base));
    expect(viaDelta(s, edit(base))).toBeUndefined();
  });

  it('a document that is not one of the plain shapes is not indexed', () => {
    expect(indexDoc(Buffer.from('[1, 2 ,3]'))).toEqual({ open: 1, close: 8, starts: [1, 4, 7], ends: [2, 5, 8] });
    expect(indexDoc(Buffer.from(' {"services" : [ ] } '))).toMatchObject({ starts: [] });
    for (const t of ['\ufeff[1]', '{"services":[1],"services":[2]}', '{"x":[1]}', '[1] x', '[{"a":"\\"]"}']) {
      if (t.endsWith('}]')) continue;
      expect(indexDoc(Buffer.from(t)), t).toBeUndefined();
    }
    expect(indexDoc(Buffer.from('[{"a":"\\"]"}]'))).toEqual({ open: 1, close: 12, starts: [1], ends: [12] });
  });

  it('finds each entry whatever its strings hold (escaped quotes and backslashes, brackets), and declines non-ASCII text', () => {
    // as JavaScript strings: JSON.stringify writes each backslash and quote escaped (\\ and \")
    const names = ['a\\', 'b\\"', '"c"', 'd]}', '{e[', '\\\\"', 'f\\\\', '"', '', 'g\\\\\\"', '\\u0022'];
    const entries = names.map((name, i) => ({ name, vip: `10.96.0.${i + 1}:80`, endpoints: [`10.88.0.${i + 1}:80`, { ip: '10.88.1.1', port: 8 }] }));
    for (const text of [JSON.stringify({ services: entries }), JSON.stringify(entries, null, 2), ` [ ${entries.map((e) => JSON.stringify(e)).join(' ,\n')} ] `]) {
      const b = Buffer.from(text);
      const x = indexDoc(b)!;
      expect(x, text).toBeDefined();
      expect(x.starts.map((s, k) => JSON.parse(b.toString('latin1', s, x.ends[k])))).toEqual(entries);
    }
    expect(indexDoc(Buffer.from(JSON.stringify([{ name: 'caf\u00e9' }])))).toBeUndefined();
  });
});

describe('the state file', () => {
  it('reads back what was written', async () => {
    const s = await stateOf(wrap(base));
    const back = decode(encode(s), 'f');
    expect(storedList(back)).toEqual(storedList(s));
    expect({ ...back, starts: [...back.starts], ends: [...back.ends], lineStarts: [...back.lineStarts] }).toEqual({
      ...s, starts: [...s.starts], ends: [...s.ends], lineStarts: [...s.lineStarts],
    });
  });

  it('detects damage instead of trusting it: a changed byte anywhere, a cut, another format', async () => {
    const bytes = encode(await stateOf(wrap(base)));
    for (const at of [5, 20, 40, 200, bytes.length >> 1, bytes.length - 3]) {
      const bad = Buffer.from(bytes);
      bad[at] = bad[at]! ^ 0x01;
      expect(() => decode(bad, 'f'), `byte ${at}`).toThrow(CorruptState);
    }
    expect(() => decode(bytes.subarray(0, bytes.length - 10), 'f')).toThrow(/corrupted/);
    expect(() => decode(Buffer.from('{"version":1,"services":[]}\n'), 'f')).toThrow(CorruptState);
    expect(() => decode(Buffer.alloc(0), 'f')).toThrow(CorruptState);
  });
});

describe('add and rm edit the stored document', () => {
  const svc = (name: string, vip: string): Service => ({ name, protocol: 'tcp', vip, port: 80, endpoints: [{ ip: '10.88.0.9', port: 80 }] });
  const services = async (doc: Buffer) => toServices((await parseDocumentAs(doc.toString(), 'f')).doc);

  it('replaces an entry in place, appends a new one, and the change is one entry', async () => {
    const s = await stateOf(wrap(base));
    const replaced = docWith(s, svc(String(base[42]!.name), '10.96.99.1'));
    const list = await services(replaced);
    expect(list[42]).toMatchObject({ name: base[42]!.name, vip: '10.96.99.1' });
    expect(list).toHaveLength(300);
    expect(viaDelta(s, replaced)!.read).toBe(1);
    const appended = await services(docWith(s, svc('brand-new', '10.96.99.2')));
    expect(appended.at(-1)).toMatchObject({ name: 'brand-new' });
    expect(appended).toHaveLength(301);
    expect(await services(docWith(undefined, svc('first', '10.96.99.3')))).toEqual([svc('first', '10.96.99.3')]);
    const empty = await stateOf(Buffer.from('[]'));
    expect(await services(docWith(empty, svc('one', '10.96.99.4')))).toHaveLength(1);
  });

  it('cuts entries with their separators: first, last, middle, runs, all, unknown names', async () => {
    const s = await stateOf(wrap(base));
    const names = (idx: number[]) => idx.map((i) => String(base[i]!.name));
    for (const gone of [[0], [299], [150], [0, 1, 2], [10, 11, 200], [0, 2, 299], base.map((_, i) => i)]) {
      const doc = docWithout(s, [...names(gone), 'not-there']);
      expect((await services(doc)).map((x) => x.name)).toEqual(base.filter((_, i) => !gone.includes(i)).map((x) => x.name));
      expect(indexDoc(doc)).toBeDefined();
    }
    expect(docWithout(s, ['not-there'])).toBe(s.doc);
    expect(viaDelta(s, docWithout(s, names([150])))!.read).toBeLessThanOrEqual(1);
  });
});

describe('delta against the full path on random edits (seeded)', () => {
  // mulberry32: the same edits on every run
  const rng = (seed: number) => () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const seps = [',', ' ,', ',\n', ' , '];
  const text = (entries: Entry[], r: () => number) =>
    Buffer.from(`{"services":[${entries.map((e, i) => (i ? seps[Math.floor(r() * seps.length)]! : '') + JSON.stringify(e)).join('')}]}`);

  it('never disagrees: when it takes the change, the restore text and the next state are the full path\'s', async () => {
    const r = rng(42);
    let taken = 0;
    for (let round = 0; round < 150; round++) {
      const entries = Array.from({ length: 120 }, (_, i) => entry(i));
      const before = text(entries, () => 0);
      const s = await stateOf(before);
      const next = [...entries];
      for (let k = 0, edits = 1 + Math.floor(r() * 3); k < edits; k++) {
        const at = Math.floor(r() * next.length);
        const what = Math.floor(r() * 5);
        if (what === 0) next.splice(at, 1);
        else if (what === 1) next.splice(at, 0, entry(500 + round * 4 + k));
        else if (what === 2) next[at] = { ...next[at]!, endpoints: r() < 0.3 ? [] : [`10.88.${k}.${round % 250}:8${k}`] };
        else if (what === 3) next[at] = { ...next[at]!, nodePort: 31000 + round * 4 + k };
        else next.splice(at, 1, next[(at + 1) % next.length]!, next[at]!); // a duplicate: the full path refuses it
      }
      const after = text(next, r);
      let full: StoredState | undefined;
      try {
        full = await stateOf(after);
      } catch {
        full = undefined; // bad input: the delta must not take it either
      }
      const got = viaDelta(s, after);
      if (!full) {
        expect(got, `round ${round}`).toBeUndefined();
        continue;
      }
      if (!got) continue;
      taken++;
      expect(got.text, `round ${round}`).toBe(restoreText(diff(render('BKSVC', storedList(full)), render('BKSVC', storedList(s)))));
      expect([...got.next.starts], `round ${round}`).toEqual([...full.starts]);
      expect([...got.next.ends]).toEqual([...full.ends]);
      expect([...got.next.lineStarts]).toEqual([...full.lineStarts]);
      expect(got.next.idx).toBe(full.idx);
      expect(got.next.cidrs).toEqual(full.cidrs);
      expect(got.next.close).toBe(full.close);
    }
    expect(taken).toBeGreaterThan(50);
  });
});
