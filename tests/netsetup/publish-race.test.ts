/**
 * `netsetup publish` racing `netsetup down` of the same container (the same
 * container address), many pairs at once at staggered offsets: whichever
 * wins, no DNAT/hairpin rule and no publish entry may be left to an address
 * whose attachment is gone (its lease is free: the next container given that
 * address would receive the port). A publish ordered before the down is
 * removed by it; one ordered after it is refused (no container there).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { binPath, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { dropEmptyTables, netSnapshot, ns, sh, shortName, stored, useStateDir } from './helpers.js';

interface Ended { code: number | null; stderr: string }

/** Start netsetup ARGS after `delayMs`; resolves with how it ended. */
async function startedAfter(delayMs: number, args: string[]): Promise<Ended> {
  if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
  const e: Record<string, string> = { ...(process.env as Record<string, string>) };
  delete e.NODE_EXTRA_CA_CERTS;
  const p = spawn(binPath('netsetup'), args, { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => p.on('close', (code) => resolve({ code, stderr })));
}

describe.skipIf(skipReason)(`netsetup publish racing down${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('npr');
  const hosts = [1, 2, 3].map((i) => testName(`pr-c${i}`));
  const ipOf = (k: number) => `10.77.44.${10 + k}`;
  let state = '';
  let before: ReturnType<typeof netSnapshot>;

  const natRules = () => sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.includes('boxkit publish') && !l.includes('boxkit publish hook'));
  const entries = (): { containerIp: string; spec: string }[] => {
    try {
      return Object.values(JSON.parse(readFileSync(join(state, 'netsetup', 'state.json'), 'utf8')).publish ?? {});
    } catch {
      return [];
    }
  };

  beforeAll(async () => {
    state = useStateDir('publish-race');
    before = netSnapshot();
    for (const h of hosts) createHost(h);
    expect((await ns(['bridge', br, '10.77.44.1/24'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    for (const h of hosts) await ns(['down', '--netns', h]);
    for (const e of entries()) await ns(['publish', 'rm', e.spec]);
    await ns(['bridge', 'rm', br]);
    for (const h of hosts) destroyHost(h);
    dropEmptyTables(before);
  });

  it('publish and down of one container at once, 3 pairs x 16 offsets: no rule or entry outlives the attachment', async () => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < 16; i++) {
      for (const [k, h] of hosts.entries()) {
        const r = await ns(['veth', '--netns', h, '--bridge', br, '--ip', `${ipOf(k)}/24`]);
        expect(r.exitCode, r.stderr).toBe(0);
      }
      // offsets from publish well ahead of the down to well behind it (wide enough both ways that
      // each order happens whatever the jitter of a Node start on a loaded host)
      const runs = hosts.map((h, k) => {
        const lead = (3 * i + 17 * k) % 48 - 20; // ms the publish starts before (>0) or after (<0) the down
        return Promise.all([
          startedAfter(Math.max(0, -lead), ['publish', `${18100 + k}:${ipOf(k)}:80`]),
          startedAfter(Math.max(0, lead), ['down', '--netns', h]),
        ]);
      });
      const ends = await Promise.all(runs);
      const what = `#${i}: ${ends.map(([p, d], k) => `c${k} publish ${p.code} ${p.stderr.trim()} | down ${d.code} ${d.stderr.trim()}`).join(' ; ')}`;
      for (const [k, [p, d]] of ends.entries()) {
        expect(d.code, what).toBe(0);
        // published (then removed by the down) or refused for want of a container there
        if (p.code !== 0) expect(p.stderr, what).toMatch(/no container is attached at/);
        counts[`${p.code}`] = (counts[`${p.code}`] ?? 0) + 1;
        expect(natRules().filter((l) => l.includes(`:${ipOf(k)}:80/`)), what).toEqual([]);
        expect(entries().filter((e) => e.containerIp === ipOf(k)), what).toEqual([]);
      }
      expect(stored(state), what).toEqual({ attachments: [], leases: [] });
      expect(sh('iptables-save', ['-t', 'nat']), what).not.toContain('BOXKIT');
    }
    // both orders happened: publishes before the down (exit 0, removed by it) and after it (refused, exit 2)
    expect(Object.keys(counts).sort(), JSON.stringify(counts)).toEqual(['0', '2']);
  });

  it("a repeated veth over a stale attachment (its link gone) removes that attachment's published ports with it", async () => {
    const h = shortName('nps');
    expect((await ns(['veth', '--netns', hosts[0]!, '--bridge', br, '--ip', `${ipOf(0)}/24`, '--host-ifname', h])).exitCode).toBe(0);
    expect((await ns(['publish', `18110:${ipOf(0)}:80`])).exitCode).toBe(0);
    sh('ip', ['link', 'del', h]); // the container's side went (as when its namespace ends)
    const r = await ns(['veth', '--netns', hosts[0]!, '--bridge', br, '--host-ifname', h, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    // its address went back to the pool: a port still published to it would reach the next holder
    expect(JSON.parse(r.stdout).ip).toBe('10.77.44.2/24');
    expect(natRules()).toEqual([]);
    expect(entries()).toEqual([]);
    expect((await ns(['down', '--host-ifname', h])).exitCode).toBe(0);
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
  });
});
