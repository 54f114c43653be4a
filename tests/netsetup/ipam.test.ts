/**
 * IPAM under concurrency (20 separate `veth --ip auto` processes at once),
 * batch mode (`veth -` / `down -`), attach by PID, and bad input: exit 2,
 * one line, nothing created.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, destroyHost, skipReason, testName, waitUntil } from '../harness/index.js';
import { dropEmptyTables, netSnapshot, ns, ping, refusedNs, sh, shortName, stored, useStateDir } from './helpers.js';

describe.skipIf(skipReason)(`netsetup IPAM, batches, bad input${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nsi');
  const hosts = Array.from({ length: 20 }, (_, i) => testName(`ip-c${i}`));
  let state = '';
  let before: ReturnType<typeof netSnapshot>;
  const procs: ChildProcess[] = [];
  // attachment records; each holds one lease file
  const leases = () => {
    const st = stored(state);
    expect(st.leases).toHaveLength(st.attachments.length);
    return st.attachments;
  };

  beforeAll(async () => {
    state = useStateDir('ipam');
    before = netSnapshot();
    for (const h of hosts) createHost(h);
    expect((await ns(['bridge', br, '10.77.30.1/24'])).exitCode).toBe(0);
  });
  afterAll(async () => {
    for (const p of procs) p.kill('SIGKILL');
    await ns(['down', '-'], hosts.join('\n'));
    await ns(['bridge', 'rm', br]);
    for (const h of hosts) destroyHost(h);
    dropEmptyTables(before);
  });

  it('20 concurrent veth --ip auto get 20 distinct, reachable addresses', async () => {
    const rs = await Promise.all(hosts.map((h) => ns(['veth', '--netns', h, '--bridge', br, '--ip', 'auto', '--json'])));
    for (const r of rs) expect(r.exitCode, r.stderr).toBe(0);
    const ips = rs.map((r) => JSON.parse(r.stdout).ip as string);
    expect(new Set(ips).size).toBe(20);
    for (const ip of ips) expect(ip).toMatch(/^10\.77\.30\.(\d+)\/24$/);
    expect(ips.map((ip) => Number(ip.split('.')[3]!.split('/')[0])).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 2));
    for (const ip of ips) expect(ping(undefined, ip.split('/')[0]!), ip).toBe(true);
    expect(ping(hosts[0], ips[19]!.split('/')[0]!)).toBe(true);
  });

  it('down of all 20 in one invocation frees every address', async () => {
    const d = await ns(['down', ...hosts.flatMap((h) => ['--netns', h]), '--json']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout).filter((x: { removed: boolean }) => x.removed)).toHaveLength(20);
    expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).toBe('');
    expect(leases()).toEqual([]);
  });

  it('concurrent calls for the same namespace make one attachment and never delete it', async () => {
    const rs = await Promise.all(Array.from({ length: 5 }, () => ns(['veth', '--netns', hosts[7]!, '--bridge', br, '--json'])));
    const ok = rs.filter((r) => r.exitCode === 0).map((r) => JSON.parse(r.stdout));
    for (const r of rs.filter((x) => x.exitCode !== 0)) expect(r.stderr).toMatch(/^netsetup: .*(another netsetup|file exists)/i);
    expect(ok.filter((a) => a.created)).toHaveLength(1);
    expect(new Set(ok.map((a) => a.ip)).size).toBe(1);
    expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth']).trim().split('\n')).toHaveLength(1);
    expect(leases()).toHaveLength(1);
    expect(ping(undefined, ok[0].ip.split('/')[0])).toBe(true);
    expect((await ns(['down', '--netns', hosts[7]!])).exitCode).toBe(0);
    expect(leases()).toEqual([]);
  });

  it('veth - attaches a batch from JSON lines, down - removes it', async () => {
    const lines = hosts.map((h, i) => JSON.stringify({ netns: h, bridge: br, ip: i === 0 ? '10.77.30.200/24' : 'auto', ...(i === 1 ? { hairpin: true, mtu: 1400 } : {}) })).join('\n');
    const r = await ns(['veth', '-', '--json'], lines);
    expect(r.exitCode, r.stderr).toBe(0);
    const got = JSON.parse(r.stdout) as { ip: string; netns: string }[];
    expect(got).toHaveLength(20);
    expect(got[0]!.ip).toBe('10.77.30.200/24');
    expect(new Set(got.map((g) => g.ip)).size).toBe(20);
    expect(ping(hosts[5], '10.77.30.200')).toBe(true);
    expect(sh('ip', ['-n', hosts[1]!, '-o', 'link', 'show', 'eth0'])).toContain('mtu 1400');
    const d = await ns(['down', '-'], hosts.join('\n'));
    expect(d.exitCode, d.stderr).toBe(0);
    expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).toBe('');
    expect(leases()).toEqual([]);
  });

  it('attaches by PID and detaches by PID', async () => {
    const p = spawn('ip', ['netns', 'exec', hosts[3]!, 'sleep', '60'], { stdio: 'ignore' });
    procs.push(p);
    // ip joins the netns, then execs sleep (same pid): until then the pid is in the sandbox's netns
    await waitUntil('ip netns exec to run sleep', () => readFileSync(`/proc/${p.pid}/comm`, 'utf8').trim() === 'sleep');
    const r = await ns(['veth', '--pid', String(p.pid), '--bridge', br, '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    const a = JSON.parse(r.stdout);
    expect(a.pid).toBe(p.pid);
    expect(sh('ip', ['-n', hosts[3]!, '-4', '-o', 'addr', 'show', 'eth0'])).toContain(a.ip);
    // the same namespace by name is the same attachment (host name derived from the namespace)
    const again = await ns(['veth', '--netns', hosts[3]!, '--bridge', br, '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ hostIfname: a.hostIfname, created: false });
    expect((await ns(['down', '--pid', String(p.pid)])).exitCode).toBe(0);
    expect(sh('ip', ['-o', 'link', 'show', 'type', 'veth'])).toBe('');
    // attached by PID, removed by the namespace's name: the same namespace
    expect((await ns(['veth', '--pid', String(p.pid), '--bridge', br])).exitCode).toBe(0);
    const d = JSON.parse((await ns(['down', '--netns', hosts[3]!, '--json'])).stdout);
    expect(d).toEqual([expect.objectContaining({ hostIfname: a.hostIfname, pid: p.pid, removed: true })]);
    expect(leases()).toEqual([]);
    p.kill('SIGKILL');
  });

  it('rejects bad input with exit 2 and one line, creating nothing', async () => {
    expect((await ns(['veth', '--netns', hosts[0]!, '--bridge', br, '--ip', '10.77.30.50/24'])).exitCode).toBe(0);
    const snap = netSnapshot();
    const st = readFileSync(join(state, 'netsetup', 'state.json'), 'utf8');
    const files = stored(state);
    const bad: string[][] = [
      ['veth', '--netns', hosts[1]!, '--bridge', br, '--ip', '10.77.30.300/24'],
      ['veth', '--netns', hosts[1]!, '--bridge', br, '--ip', '10.77.30.5'],
      ['veth', '--netns', hosts[1]!, '--bridge', br, '--ip', '10.77.30.5/24', '--gateway', '10.77.31.1'],
      ['veth', '--netns', hosts[1]!, '--bridge', br, '--ifname', 'an-interface-name'],
      ['veth', '--netns', hosts[1]!, '--bridge', br, '--host-ifname', 'sixteen-chars-xx'],
      ['veth', '--netns', testName('no-such-ns'), '--bridge', br],
      ['veth', '--netns', hosts[1]!, '--bridge', 'nobridge'],
      ['veth', '--netns', hosts[1]!, '--bridge', br, '--ip', '10.77.30.50/24'],
      ['veth', '--netns', '../etc', '--bridge', br],
      ['bridge', 'a-very-long-bridge-name', '10.77.32.1/24'],
      ['bridge', shortName('nsx'), '10.77.32.1/40'],
      ['publish', '70000:10.77.30.50:80'],
      ['publish', '8080:10.77.30.50:0/tcp'],
      ['publish', '8080:10.77.30.50:80/sctp'],
      ['nat', '10.77.30.0/99'],
      ['route', 'add', '10.10.15.0/24', 'via', 'nowhere'],
      ['down'],
    ];
    for (const args of bad) {
      const r = await ns(args);
      expect(r.exitCode, args.join(' ')).toBe(2);
      const lines = r.stderr.split('\n').filter(Boolean);
      expect(lines[0], args.join(' ')).toMatch(/^netsetup: \S/);
      expect(lines.length, r.stderr).toBeLessThanOrEqual(2);
      if (lines[1]) expect(lines[1]).toMatch(/^hint: /);
    }
    const dup = await ns(['veth', '--netns', hosts[1]!, '--bridge', br, '--ip', '10.77.30.50/24']);
    expect(dup.stderr).toMatch(/^netsetup: address 10\.77\.30\.50 is already in use by/);
    expect(netSnapshot()).toEqual(snap);
    expect(readFileSync(join(state, 'netsetup', 'state.json'), 'utf8')).toBe(st);
    expect(stored(state)).toEqual(files);
    expect((await ns(['down', '--netns', hosts[0]!])).exitCode).toBe(0);
  });

  it('an address off the bridge\'s subnet needs --gateway (an address or none): without, it is refused and nothing is made', async () => {
    const h = hosts[2]!;
    const inside = () => sh('ip', ['-n', h, '-o', 'addr']) + sh('ip', ['-n', h, 'route']);
    for (const extra of [[], ['--gateway', '10.77.30.1']]) {
      const r = await refusedNs(['veth', '--netns', h, '--bridge', br, '--ip', '10.77.99.2/24', ...extra], { state, inside });
      if (!extra.length) {
        expect(r.stderr).toMatch(/^netsetup: address 10\.77\.99\.2\/24 is not on bridge \S+'s subnet \(10\.77\.30\.1\/24\): it would get no default route\nhint: .*--gateway IP .* or --gateway none/);
      }
    }
    // said explicitly, it is made: no default route, or the one given
    expect((await ns(['veth', '--netns', h, '--bridge', br, '--ip', '10.77.99.2/24', '--gateway', 'none'])).exitCode).toBe(0);
    expect(sh('ip', ['-n', h, 'route', 'show', 'default'])).toBe('');
    expect((await ns(['down', '--netns', h])).exitCode).toBe(0);
    const r = await ns(['veth', '--netns', h, '--bridge', br, '--ip', '10.77.99.2/24', '--gateway', '10.77.99.1']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(sh('ip', ['-n', h, 'route', 'show', 'default']).trim()).toBe('default via 10.77.99.1 dev eth0');
    expect((await ns(['down', '--netns', h])).exitCode).toBe(0);
    // an address of a wider subnet that holds the bridge's still gets the bridge as its gateway
    expect((await ns(['veth', '--netns', h, '--bridge', br, '--ip', '10.77.31.2/16'])).exitCode).toBe(0);
    expect(sh('ip', ['-n', h, 'route', 'show', 'default']).trim()).toBe('default via 10.77.30.1 dev eth0');
    expect((await ns(['down', '--netns', h])).exitCode).toBe(0);
  });

  it('down succeeds and frees the lease when the namespace (and its veth) is already gone', async () => {
    const n = testName('ip-gone');
    createHost(n);
    const a = JSON.parse((await ns(['veth', '--netns', n, '--bridge', br, '--json'])).stdout);
    destroyHost(n); // the kernel takes the veth pair with the namespace
    const d = await ns(['down', '--netns', n, '--json']);
    expect(d.exitCode, d.stderr).toBe(0);
    expect(JSON.parse(d.stdout)).toEqual([expect.objectContaining({ hostIfname: a.hostIfname, ip: a.ip })]);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(a.hostIfname);
    expect(leases()).toEqual([]);
  });

  it('leaves no links, rules or leases', async () => {
    expect((await ns(['bridge', 'rm', br])).exitCode).toBe(0);
    dropEmptyTables(before);
    const after = netSnapshot();
    expect(after.links).toEqual(before.links);
    expect(after.rules).toEqual(before.rules);
    expect(leases()).toEqual([]);
  });
});
