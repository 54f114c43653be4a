/**
 * Concurrent calls around a stale attachment record: a `veth` killed part-way
 * (BOXKIT_NETSETUP_CRASH_AT) or one whose link went, then two repeats of that
 * `veth` at once, with a `veth --ip auto` of another container beside them.
 * Each cleans the stale record it read; the one that cleans it second must not
 * delete what the first claimed meanwhile (its record, its lease, its link).
 * Whatever the interleaving: at most one attachment of the container, with a
 * record, a lease and a link that agree, and no address given out twice.
 * Repeated, since the window is a few milliseconds wide. And a `down` of a
 * container while its `veth` is at work: all of the attachment or none.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { dropEmptyTables, netSnapshot, ns, sh, shortName, stored, useStateDir } from './helpers.js';

interface Ended { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Start netsetup ARGS (env added) now; resolves with how it ended. */
function started(args: string[], env: Record<string, string> = {}): Promise<Ended> {
  const e: Record<string, string> = { ...(process.env as Record<string, string>), ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  const p = spawn(binPath('netsetup'), args, { env: e, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => (stdout += d));
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('close', (code, signal) => resolve({ code, signal, stdout, stderr })));
}

describe.skipIf(skipReason)(`netsetup: concurrent repeats over a stale record${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nrb');
  const host = shortName('nrc');
  const c = testName('race-c');
  const d = testName('race-d');
  let state = '';
  let before: ReturnType<typeof netSnapshot>;

  const record = () => {
    try {
      return JSON.parse(readFileSync(join(state, 'netsetup', 'attachments', `${host}.json`), 'utf8')) as { ip: string };
    } catch {
      return undefined;
    }
  };
  const holder = (ip: string) => readFileSync(join(state, 'netsetup', 'leases', ip), 'utf8').trim();
  const addrOf = (netns: string) => /inet (\S+)/.exec(sh('ip', ['-n', netns, '-o', '-4', 'addr', 'show', 'scope', 'global']))?.[1];

  beforeAll(async () => {
    state = useStateDir('stale-race');
    before = netSnapshot();
    createHost(c);
    createHost(d);
    expect((await ns(['bridge', br, '10.77.42.1/24'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    await ns(['down', '--host-ifname', host]);
    await ns(['down', '--netns', c]);
    await ns(['down', '--netns', d]);
    await ns(['bridge', 'rm', br]);
    destroyHost(c);
    destroyHost(d);
    dropEmptyTables(before);
  });

  /** What is left: killed at a mark, or a whole attachment whose link went (the owner exited). */
  const makeStale = async (how: string) => {
    if (how === 'link gone') {
      expect((await ns(['veth', '--netns', c, '--bridge', br, '--host-ifname', host])).exitCode).toBe(0);
      sh('ip', ['link', 'del', host]);
    } else {
      const k = await started(['veth', '--netns', c, '--bridge', br, '--host-ifname', host], { BOXKIT_NETSETUP_CRASH_AT: how });
      expect(k.signal).toBe('SIGKILL');
    }
    expect(stored(state).attachments).toEqual([`${host}.json`]);
  };

  it('veth --ip auto x3 at once on a subnet full of orphan leases: each gets its own address, 6 times', async () => {
    const br8 = shortName('nr8');
    const hs = [testName('race-e'), testName('race-f'), testName('race-g')];
    expect((await ns(['bridge', br8, '10.77.43.1/29'])).exitCode).toBe(0);
    for (const h of hs) createHost(h);
    const leases = join(state, 'netsetup', 'leases');
    try {
      for (let i = 0; i < 6; i++) {
        // .2-.6: held by netsetups killed before they wrote a record (holder dead, no link)
        mkdirSync(leases, { recursive: true });
        for (let n = 2; n <= 6; n++) writeFileSync(join(leases, `10.77.43.${n}`), `bk0dead${i}${n}dead ${2147483600 + n}\n`);
        const rs = await Promise.all(hs.map((h) => started(['veth', '--netns', h, '--bridge', br8, '--json'])));
        const what = `#${i}: ${rs.map((r) => `${r.code} ${r.stderr.trim()}`).join(' | ')}`;
        for (const r of rs) expect(r.code, what).toBe(0);
        const ips = rs.map((r) => (JSON.parse(r.stdout) as { ip: string }).ip);
        expect(new Set(ips).size, what).toBe(3);
        hs.forEach((h, k) => expect(addrOf(h), what).toBe(ips[k]));
        for (const ip of ips) expect(holder(ip.split('/')[0]!), what).not.toMatch(/dead/);
        for (const h of hs) expect((await ns(['down', '--netns', h])).exitCode).toBe(0);
        for (const n of readdirSync(leases)) rmSync(join(leases, n));
      }
    } finally {
      for (const h of hs) await ns(['down', '--netns', h]);
      for (const h of hs) destroyHost(h);
      await ns(['bridge', 'rm', br8]);
    }
  });

  it("down of a stale record whose address is another attachment's now leaves that attachment's published ports", async () => {
    // a record left with its address (a forget cut between its lease and its record, or an old
    // netsetup's double grant) while the address went to another container, which published a port
    expect((await ns(['veth', '--netns', d, '--bridge', br, '--ip', '10.77.42.7/24'])).exitCode).toBe(0);
    const p = await ns(['publish', '18092:10.77.42.7:80']);
    expect(p.exitCode, p.stderr).toBe(0);
    const stale = { ...JSON.parse(readFileSync(join(state, 'netsetup', 'attachments', readdirSync(join(state, 'netsetup', 'attachments'))[0]!), 'utf8')), hostIfname: host, netns: c, owner: 2147483646 };
    writeFileSync(join(state, 'netsetup', 'attachments', `${host}.json`), JSON.stringify(stale));
    const rules = () => sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.includes('boxkit publish 18092:'));
    expect(rules()).toHaveLength(3);
    const r = await ns(['down', '--host-ifname', host]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(record()).toBeUndefined();
    expect(rules(), 'the other container keeps its rules').toHaveLength(3);
    expect(Object.keys(JSON.parse(readFileSync(join(state, 'netsetup', 'state.json'), 'utf8')).publish)).toEqual(['18092/tcp']);
    expect(stored(state).leases).toEqual(['10.77.42.7']);
    expect((await ns(['down', '--netns', d])).exitCode).toBe(0);
    expect(rules()).toEqual([]);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('down of a container while its veth is at work, at 24 offsets: all of the attachment or none of it, never an address without its lease', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const vethC = started(['veth', '--netns', c, '--bridge', br, '--host-ifname', host, '--json']);
      await new Promise((r) => setTimeout(r, i % 12));
      const [v, dn] = await Promise.all([vethC, started(['down', '--netns', c])]);
      const what = `#${i}: veth ${v.code} ${v.stderr.trim()} | down ${dn.code} ${dn.stderr.trim()}`;
      // down waits for nothing: it removes a whole attachment, or refuses one still being made
      if (dn.code !== 0) expect(dn.stderr, what).toMatch(/EBUSY|right now/);
      const rec = record();
      const there = addrOf(c);
      seen.add(`${v.code}/${dn.code}/${!!rec}`);
      if (rec) {
        // whole: record, lease, link and address agree
        expect(rec.ip, what).toBeTruthy();
        expect(there, what).toBe(rec.ip);
        expect(holder(rec.ip.split('/')[0]!).split(' ')[0], what).toBe(host);
        expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth']), what).toContain(host);
      } else {
        // none: no address left configured whose lease is free for another container
        expect(there, what).toBeUndefined();
        expect(stored(state).leases, what).toEqual([]);
      }
      expect((await ns(['down', '--netns', c])).exitCode, what).toBe(0);
      expect(stored(state), what).toEqual({ attachments: [], leases: [] });
      expect(addrOf(c), what).toBeUndefined();
    }
    // seen here: down before the claim (veth whole after), down refused (EBUSY), down after the veth
    expect(seen.size, [...seen].join(' ')).toBeGreaterThan(0);
  });

  for (const how of ['claimed', 'leased', 'made', 'link gone']) {
    it(`two repeats of a veth (${how}) and another container's --ip auto at once: one attachment, one address each`, async () => {
      for (let i = 0; i < 12; i++) {
        await makeStale(how);
        const vethC = ['veth', '--netns', c, '--bridge', br, '--host-ifname', host, '--json'];
        const [a, b, o] = await Promise.all([started(vethC), started(vethC), started(['veth', '--netns', d, '--bridge', br, '--json'])]);
        const what = `${how} #${i}: ${a.code} ${a.stderr.trim()} | ${b.code} ${b.stderr.trim()} | ${o.code} ${o.stderr.trim()}`;
        expect(o.code, what).toBe(0);
        const ok = [a, b].filter((r) => r.code === 0).map((r) => JSON.parse(r.stdout) as { ip: string });
        // the loser waits its turn (EBUSY) or finds the winner's attachment; someone wins
        expect(ok.length, what).toBeGreaterThan(0);
        for (const r of [a, b]) if (r.code !== 0) expect(r.stderr, what).toMatch(/EBUSY|right now/);
        const ip = ok[0]!.ip;
        for (const r of ok) expect(r.ip, what).toBe(ip);
        // what the winner reported is what is there: its record, its lease, its link and address
        expect(record()?.ip, what).toBe(ip);
        expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth']), what).toContain(host);
        expect(addrOf(c), what).toBe(ip);
        expect(holder(ip.split('/')[0]!).split(' ')[0], what).toBe(host);
        // no address twice: the other container has its own, and exactly the two are leased
        const other = (JSON.parse(o.stdout) as { ip: string }).ip;
        expect(other, what).not.toBe(ip);
        expect(addrOf(d), what).toBe(other);
        expect(stored(state).leases.sort(), what).toEqual([ip, other].map((x) => x.split('/')[0]!).sort());
        expect((await ns(['down', '--netns', c])).exitCode).toBe(0);
        expect((await ns(['down', '--netns', d])).exitCode).toBe(0);
        expect(stored(state), what).toEqual({ attachments: [], leases: [] });
      }
    });
  }
});
