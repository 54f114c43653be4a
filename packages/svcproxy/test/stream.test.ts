import { describe, expect, it } from 'vitest';
import { chainsOf, emptyRuleset, hooks, render, type Ruleset } from '../src/rules.js';
import { diff, diffChunks, restoreChunks, type StreamedDiff } from '../src/diff.js';
import { Names } from '../src/names.js';
import type { Service } from '../src/model.js';
import { declareFirstFor, LEGACY_DECLARE_FIRST_ABOVE } from '../src/sync.js';

const names = new Names('BKSVC');
const svc = (i: number, eps = 3, extra: Partial<Service> = {}): Service => ({
  name: `ns${i % 10}/svc-${i}`, protocol: i % 7 ? 'tcp' : 'udp', vip: `10.96.${i >> 8}.${(i & 255) || 1}`, port: 80 + (i & 255 ? 0 : 1),
  endpoints: Array.from({ length: eps }, (_, j) => ({ ip: `10.88.${j}.${(i % 250) + 1}`, port: 8080 })),
  ...(i % 5 === 0 ? { nodePort: 30000 + i } : {}),
  ...(i % 11 === 0 ? { affinitySeconds: 60 } : {}),
});
const many = (n: number) => Array.from({ length: n }, (_, i) => svc(i, i % 4));

function stream(want: readonly Service[] | null, have: Ruleset, opts: { natOpen?: boolean; zeroAbove?: number; zeroCertain?: boolean; declareFirst?: boolean }): { yielded: string[]; r: StreamedDiff } {
  const g = diffChunks(want ? chainsOf(names, want) : [], want ? hooks(names) : [], have, undefined, opts);
  const yielded: string[] = [];
  for (;;) {
    const x = g.next();
    if (x.done) return { yielded, r: x.value };
    yielded.push(x.value);
  }
}

const cases: [string, Service[] | null, Ruleset][] = [
  ['a full load', many(1500), emptyRuleset()],
  ['a small change', many(300).map((s, i) => (i === 42 ? { ...s, endpoints: [{ ip: '10.88.9.9', port: 1 }] } : s)), render(names, many(300))],
  ['services removed', many(200), render(names, many(300))],
  ['nothing changed', many(300), render(names, many(300))],
  ['everything removed', null, render(names, many(300))],
];

describe('diffChunks (a reconcile streamed chain by chain)', () => {
  for (const [natOpen, zeroAbove, declareFirst] of [[false, undefined, false], [false, 1000, false], [true, undefined, false], [true, 1000, false], [true, undefined, true], [false, undefined, true]] as const) {
    {
      it.each(cases)(`makes the same diff and text as diff() + restoreChunks(): %s (natOpen ${natOpen}, zeroAbove ${zeroAbove}, declareFirst ${declareFirst})`, (_what, want, have) => {
        const { yielded, r } = stream(want, have, { natOpen, zeroAbove, declareFirst });
        const d = diff(want ? render(names, want) : emptyRuleset(), have);
        expect(r.diff).toEqual(d);
        const count = d.nat.write.length + d.nat.remove.length + d.filter.write.length + d.filter.remove.length;
        expect(r.zero).toBe(zeroAbove !== undefined && count > zeroAbove);
        expect(yielded.join('') + r.rest).toBe([...restoreChunks(d, { zeroCounters: r.zero, natOpen, declareFirst })].join(''));
        // nothing yielded before the end may commit anything
        for (const c of yielded) expect(c).not.toMatch(/^COMMIT$/m);
      });
    }
  }

  it('yields a full load before the end, and every chain is declared before a rule jumps to it', () => {
    const { yielded, r } = stream(many(1500), emptyRuleset(), {});
    expect(yielded.length).toBeGreaterThan(5);
    const declared = new Set<string>();
    for (const line of (yielded.join('') + r.rest).split('\n')) {
      if (line.startsWith(':')) declared.add(line.slice(1, line.indexOf(' ')));
      const target = / -j (BKSVC-\S+)/.exec(line)?.[1];
      if (target && line.startsWith('-A ')) expect(declared.has(target), line).toBe(true);
    }
  });

  it('declareFirst (legacy): every declaration before the first rule, and still streamed', () => {
    const { yielded, r } = stream(many(1500), emptyRuleset(), { natOpen: true, declareFirst: true });
    expect(yielded.length).toBeGreaterThan(5);
    const nat = (yielded.join('') + r.rest).split('COMMIT')[0]!.split('\n');
    const firstRule = nat.findIndex((l) => l.startsWith('-A '));
    expect(firstRule).toBeGreaterThan(0);
    expect(nat.slice(firstRule).some((l) => l.startsWith(':'))).toBe(false);
  });

  it('zeroCertain (a caller that knows the change is big): the same text, and the first chunk before the limit is reached', () => {
    const want = many(1500);
    const held = stream(want, emptyRuleset(), { zeroAbove: 1000 });
    const certain = stream(want, emptyRuleset(), { zeroAbove: 1000, zeroCertain: true });
    expect(certain.r.zero).toBe(true);
    expect(certain.r.diff).toEqual(held.r.diff);
    expect(certain.yielded.join('') + certain.r.rest).toBe(held.yielded.join('') + held.r.rest);
    expect(certain.yielded[0]!.startsWith('*nat\n-Z\n')).toBe(true);
    // held: the first chunk carries the 1000 chains it waited for; certain: about one chunk's worth
    const declared = (c: string) => c.split('\n').filter((l) => l.startsWith(':')).length;
    expect(declared(held.yielded[0]!)).toBeGreaterThan(1000);
    expect(declared(certain.yielded[0]!)).toBeLessThan(1000);
  });

  it('declareFirst is for iptables-legacy and a big set only (a 1k full apply is interleaved, as on nft)', () => {
    expect(declareFirstFor('legacy', 6009)).toBe(false);
    expect(declareFirstFor('legacy', 60_009)).toBe(true);
    expect(declareFirstFor('legacy', LEGACY_DECLARE_FIRST_ABOVE + 1)).toBe(true);
    expect(declareFirstFor('nft', 60_009)).toBe(false);
  });

  it('holds a small change back until the end: nothing is yielded', () => {
    expect(stream(many(300).slice(1), render(names, many(300)), { zeroAbove: 1000 }).yielded).toEqual([]);
  });
});
