import { describe, expect, it } from 'vitest';
import { render, probability } from '../src/rules.js';
import { diff, restoreText, explainLines } from '../src/diff.js';
import { parseSave } from '../src/saved.js';
import { Names, checkPrefix } from '../src/names.js';
import type { Service } from '../src/model.js';

const svc = (i: number, eps = 5, extra: Partial<Service> = {}): Service => ({
  name: `ns${i % 100}/svc-${i}`, protocol: 'tcp', vip: `10.96.${i >> 8}.${(i & 255) + 1 > 255 ? 1 : (i & 255) + 1}`, port: 80,
  endpoints: Array.from({ length: eps }, (_, j) => ({ ip: `10.88.${(i * eps + j) >> 8 & 255}.${((i * eps + j) & 255) || 1}`, port: 8080 })),
  ...extra,
});
const web: Service = { name: 'web', protocol: 'tcp', vip: '2.2.2.2', port: 88, nodePort: 30001, endpoints: [{ ip: '10.10.63.2', port: 12345 }, { ip: '10.10.14.2', port: 12345 }, { ip: '10.10.14.3', port: 12345 }] };

describe('chain names', () => {
  it('are at most 28 characters, stable, and never KUBE-', () => {
    const n = new Names('BKSVC');
    expect(n.svc(web)).toBe(new Names('BKSVC').svc({ ...web, endpoints: [] }));
    expect(n.svc(web)).toMatch(/^BKSVC-SVC-[A-Z2-7]{16}$/);
    const long = new Names('ABCDEFGHIJKLMNO');
    for (const c of [long.svc(web), long.sep(web, web.endpoints[0]!), long.bucket(web.vip), long.postrouting]) expect(c.length).toBeLessThanOrEqual(28);
    expect(() => checkPrefix('KUBE')).toThrow(/kube-proxy/);
    expect(() => checkPrefix('ABCDEFGHIJKLMNOP')).toThrow(/invalid chain prefix/);
  });
});

describe('chain ownership', () => {
  it('is the names a prefix makes, not every chain that starts with PREFIX-', () => {
    for (const prefix of ['BKSVC', 'DOCKER', 'ABCDEFGHIJKLMNO']) {
      const n = new Names(prefix);
      const rs = render(n, [web, { ...web, name: 'empty', vip: '2.2.3.2', nodePort: 30002, endpoints: [] }]);
      for (const t of ['nat', 'filter'] as const) for (const chain of rs.chains[t].keys()) expect(n.owns(chain), chain).toBe(true);
      for (const chain of [`${prefix}-USER`, `${prefix}-ISOLATION-STAGE-1`, `${prefix}-SVC-mine`, `${prefix}-SVC-${'A'.repeat(17)}`, `${prefix}-SEP-${'a'.repeat(16)}`, `${prefix}X-SERVICES`, `${prefix}_2-NODEPORTS`, prefix]) {
        expect(n.owns(chain), chain).toBe(false);
      }
    }
  });
});

describe('rules', () => {
  it('spreads n endpoints with probabilities 1/(n-i) as iptables prints them', () => {
    expect(probability(1 / 3)).toBe('0.33333333349');
    expect(probability(0.5)).toBe('0.50000000000');
    const n = new Names('BKSVC');
    const rules = render('BKSVC', [web]).chains.nat.get(n.svc(web))!;
    expect(rules.map((r) => /--probability (\S+)/.exec(r)?.[1])).toEqual(['0.33333333349', '0.50000000000', undefined]);
  });

  it('marks hairpin and NodePort traffic for masquerade, and rejects services without endpoints in filter', () => {
    const n = new Names('BKSVC');
    const rs = render('BKSVC', [web, { name: 'empty', protocol: 'udp', vip: '10.96.0.9', port: 53, nodePort: 30053, endpoints: [] }]);
    expect(rs.chains.nat.get(n.sep(web, web.endpoints[0]!))![0]).toBe(`-s 10.10.63.2/32 -m comment --comment web -j ${n.markMasq}`);
    expect(rs.chains.nat.get(n.nodePorts)).toEqual([
      `-p tcp -m comment --comment "web node port" -m tcp --dport 30001 -j ${n.markMasq}`,
      `-p tcp -m comment --comment "web node port" -m tcp --dport 30001 -j ${n.svc(web)}`,
    ]);
    expect(rs.chains.filter.get(n.services)!.join('\n')).toMatch(/-d 10.96.0.9\/32 -p udp .*--dport 53 -j REJECT[^]*--dst-type LOCAL -m udp --dport 30053 -j REJECT/);
    expect([...rs.chains.nat.keys()].some((c) => c.includes('SVC') && c === n.svc({ ...web, name: 'empty', protocol: 'udp' }))).toBe(false);
  });

  it('adds -m recent rules for ClientIP affinity', () => {
    const n = new Names('BKSVC');
    const rs = render('BKSVC', [{ ...web, affinitySeconds: 60 }]);
    const sep = n.sep(web, web.endpoints[0]!);
    expect(rs.chains.nat.get(n.svc(web))![0]).toContain(`-m recent --rcheck --seconds 60 --reap --name ${sep} --mask 255.255.255.255 --rsource -j ${sep}`);
    expect(rs.chains.nat.get(sep)![1]).toContain(`-m recent --set --name ${sep}`);
  });
});

describe('sync text', () => {
  const many = Array.from({ length: 2000 }, (_, i) => svc(i));

  it('a full load declares every chain; the same state again changes nothing', () => {
    const want = render('BKSVC', many);
    const text = restoreText(diff(want, render('BKSVC', [])), {});
    expect(text.split('\n').filter((l) => l.startsWith(':')).length).toBe(want.chains.nat.size + want.chains.filter.size - 4 /* MARK-MASQ, POSTROUTING and both empty NODEPORTS/filter SERVICES are unchanged */);
    const saved = parseSave(`*nat\n${[...want.chains.nat].flatMap(([c, r]) => [`:${c} - [0:0]`, ...r.map((x) => `[3:4] -A ${c} ${x.replace(/"/g, '')}`)]).join('\n')}\n${want.hooks.filter((h) => h.table === 'nat').map((h) => `-A ${h.chain} ${h.spec}`).join('\n')}\nCOMMIT\n*filter\n:BKSVC-SERVICES - [0:0]\n${want.hooks.filter((h) => h.table === 'filter').map((h) => `-A ${h.chain} ${h.spec}`).join('\n')}\nCOMMIT\n`, new Names('BKSVC'));
    expect(restoreText(diff(want, saved))).toBe('');
  });

  it('changing one service among 2000 rewrites its own chains and one /24 bucket, not the entry chain', () => {
    const before = render('BKSVC', many);
    const changed = many.map((s, i) => (i === 42 ? { ...s, endpoints: s.endpoints.map((e) => ({ ...e, port: 9090 })) } : s));
    const d = diff(render('BKSVC', changed), before);
    const written = d.nat.write.map((w) => w.chain);
    expect(written.length).toBe(6); // SVC + 5 new SEP
    expect(d.nat.remove.length).toBe(5);
    expect(written).not.toContain('BKSVC-SERVICES');
    const added = many.concat([svc(5000)]);
    const d2 = diff(render('BKSVC', added), before);
    expect(d2.nat.write.map((w) => w.chain).filter((c) => c.includes('-SVB-') || c === 'BKSVC-SERVICES').length).toBeLessThanOrEqual(2);
    expect(restoreText(d2).split('\n').length).toBeLessThan(300);
  });

  it('a -Z line comes first when asked (iptables-nft chain-list workaround)', () => {
    const text = restoreText(diff(render('BKSVC', [web]), render('BKSVC', [])), { zeroCounters: true });
    expect(text.split('\n').slice(0, 2)).toEqual(['*nat', '-Z']);
  });

  it('removing everything deletes hooks first, then chains', () => {
    const have = render('BKSVC', [web]);
    const d = diff({ chains: { nat: new Map(), filter: new Map() }, hooks: [] }, have);
    const lines = restoreText(d).split('\n');
    expect(lines.findIndex((l) => l.startsWith('-D PREROUTING'))).toBeLessThan(lines.findIndex((l) => l.startsWith('-X')));
    expect(explainLines(d).some((l) => l.startsWith('iptables -t nat -X BKSVC-SERVICES'))).toBe(true);
  });
});
