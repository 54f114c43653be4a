import { describe, expect, it } from 'vitest';
import { render } from '../src/rules.js';
import { diff, restoreText } from '../src/diff.js';
import { scopeOf } from '../src/sync.js';
import type { Service } from '../src/model.js';

const base: Service[] = Array.from({ length: 600 }, (_, i) => ({
  name: `svc-${i}`, protocol: i % 7 ? 'tcp' : 'udp', vip: `10.96.${i >> 8}.${(i & 255) || 1}`, port: 80 + (i & 255 ? 0 : 1),
  endpoints: Array.from({ length: i % 4 }, (_, j) => ({ ip: `10.88.${j}.${(i % 250) + 1}`, port: 8080 })),
  ...(i % 5 === 0 ? { nodePort: 30000 + i } : {}),
  ...(i % 11 === 0 ? { affinitySeconds: 60 } : {}),
}));

const edits: [string, (s: Service[]) => Service[]][] = [
  ['endpoint replaced', (s) => s.map((x, i) => (i === 42 ? { ...x, endpoints: [{ ip: '10.88.9.9', port: 1 }] } : x))],
  ['service added in a new /24', (s) => [...s, { name: 'new', protocol: 'tcp', vip: '10.97.0.1', port: 80, endpoints: [{ ip: '10.88.0.1', port: 80 }] }]],
  ['service removed', (s) => s.filter((x) => x.name !== 'svc-300')],
  ['endpoints removed (now rejected)', (s) => s.map((x) => (x.name === 'svc-43' ? { ...x, endpoints: [] } : x))],
  ['NodePort dropped', (s) => s.map((x) => (x.name === 'svc-45' ? (({ nodePort: _n, ...r }) => r)(x) : x))],
  ['affinity added', (s) => s.map((x) => (x.name === 'svc-46' ? { ...x, affinitySeconds: 5 } : x))],
  ['last service of a bucket removed', (s) => s.filter((x) => !x.vip.startsWith('10.96.2.'))],
  ['nothing changed', (s) => s],
];

describe('partial sync scope', () => {
  it.each(edits)('writes the same change as a full diff: %s', (_what, edit) => {
    const next = edit(base);
    const full = restoreText(diff(render('BKSVC', next), render('BKSVC', base)));
    const scope = scopeOf(base, next);
    const partial = restoreText(diff(render('BKSVC', next, scope), render('BKSVC', base, scope)));
    expect(partial).toBe(full);
  });
});
