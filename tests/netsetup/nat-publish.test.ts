/**
 * NAT and published ports against an "outside" host: a netns on
 * 203.0.113.0/24 linked to the sandbox host, with a TCP responder that
 * reports the peer address it sees.
 */
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, destroyHost, skipReason, startResponder, tcpAsk, testName, type Responder } from '../harness/index.js';
import { dropEmptyTables, netSnapshot, ns, refusedNs, sh, shortName, useStateDir } from './helpers.js';

describe.skipIf(skipReason)(`netsetup nat + publish${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nsn');
  const up = shortName('nup');
  const out = testName('np-out');
  const c1 = testName('np-c1');
  const c2 = testName('np-c2');
  const responders: Responder[] = [];
  let before: ReturnType<typeof netSnapshot>;
  let state = '';

  beforeAll(async () => {
    state = useStateDir('nat-publish');
    before = netSnapshot();
    createHost(out);
    createHost(c1);
    createHost(c2);
    // the uplink: sandbox host 203.0.113.1 <-> outside 203.0.113.2, which knows no route to 10.77.x
    sh('ip', ['link', 'add', up, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', out]);
    sh('ip', ['addr', 'add', '203.0.113.1/24', 'dev', up]);
    sh('ip', ['link', 'set', up, 'up']);
    sh('ip', ['-n', out, 'addr', 'add', '203.0.113.2/24', 'dev', 'eth0']);
    sh('ip', ['-n', out, 'link', 'set', 'eth0', 'up']);
    expect((await ns(['bridge', br, '10.77.20.1/24'])).exitCode).toBe(0);
    expect((await ns(['veth', '--netns', c1, '--bridge', br, '--ip', '10.77.20.2/24', '--hairpin'])).exitCode).toBe(0);
    expect((await ns(['veth', '--netns', c2, '--bridge', br, '--ip', '10.77.20.3/24'])).exitCode).toBe(0);
    responders.push(await startResponder(out, 7000, 'outside'));
    responders.push(await startResponder(c1, 80, 'web'));
  });
  afterAll(async () => {
    for (const r of responders) await r.stop();
    await ns(['nat', 'rm', '10.77.20.0/24']);
    await ns(['publish', 'rm', '8080:10.77.20.2:80']);
    await ns(['down', '--netns', c1, '--netns', c2]);
    await ns(['bridge', 'rm', br]);
    for (const h of [out, c1, c2]) destroyHost(h);
    // the uplink went with the outside netns; delete it in case that failed
    spawnSync('ip', ['link', 'del', up], { stdio: 'ignore' });
    dropEmptyTables(before);
  });

  it('masquerades container traffic to the outside, and stops when removed', async () => {
    const dry = await ns(['nat', '10.77.20.0/24', '--dry-run']);
    expect(dry.stdout).toMatch(/^iptables -t nat -A BOXKIT-NAT-\w+ ! -d 224\.0\.0\.0\/4 -m comment --comment 'boxkit nat 10\.77\.20\.0\/24: outside' -j MASQUERADE$/m);
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('boxkit');
    const r = await ns(['nat', '10.77.20.0/24']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(sh('cat', ['/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    expect(tcpAsk(c1, '203.0.113.2', 7000)).toBe('outside 203.0.113.1');
    // idempotent: no duplicate rules
    expect((await ns(['nat', '10.77.20.0/24'])).exitCode).toBe(0);
    expect(sh('iptables-save', ['-t', 'nat']).match(/boxkit nat 10\.77\.20\.0\/24"/g)).toHaveLength(1);
    // another --out-if is a conflict, as route and bridge refuse theirs (it replaced the rules): exit 1, one line and
    // the way out, the kernel as it was; and so is none over an --out-if
    const nat = () => sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => /^[-:]/.test(l)).map((l) => l.split(' [')[0]);
    const rules = nat();
    const other = await refusedNs(['nat', '10.77.20.0/24', '--out-if', up], { state, code: 1 });
    expect(other.stderr.split('\n').filter(Boolean)).toEqual([`netsetup: nat 10.77.20.0/24: netsetup's nat masquerades out every interface, not out ${up}`, 'hint: netsetup nat rm 10.77.20.0/24 first']);
    expect(nat()).toEqual(rules);
    expect(tcpAsk(c1, '203.0.113.2', 7000)).toBe('outside 203.0.113.1');
    // changed the way the hint says: masquerade only what leaves through the uplink
    expect((await ns(['nat', 'rm', '10.77.20.0/24'])).exitCode).toBe(0);
    expect((await ns(['nat', '10.77.20.0/24', '--out-if', up])).exitCode).toBe(0);
    const again = await ns(['nat', '10.77.20.0/24', '--out-if', up, '--json']);
    expect([again.exitCode, JSON.parse(again.stdout).changed]).toEqual([0, false]);
    const viaUp = nat();
    for (const args of [[], ['--out-if', br]]) {
      const r = await refusedNs(['nat', '10.77.20.0/24', ...args], { state, code: 1 });
      expect(r.stderr.split('\n')[0]).toBe(`netsetup: nat 10.77.20.0/24: netsetup's nat masquerades out ${up}, not out ${args[1] ?? 'every interface'}`);
      expect(nat()).toEqual(viaUp);
    }
    expect(sh('iptables-save', ['-t', 'nat'])).toMatch(new RegExp(`! -d 224\\.0\\.0\\.0/4 -o ${up} .*-j MASQUERADE`));
    expect(sh('iptables-save', ['-t', 'nat']).match(/-j MASQUERADE/g)).toHaveLength(1);
    expect(tcpAsk(c1, '203.0.113.2', 7000)).toBe('outside 203.0.113.1');
    expect((await ns(['nat', 'rm', '10.77.20.0/24'])).exitCode).toBe(0);
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT-NAT');
    // without masquerade the outside sees the container's address, or (no route back) nothing
    expect(tcpAsk(c1, '203.0.113.2', 7000, 2)).toMatch(/^(outside 10\.77\.20\.2|TIMEOUT|ERROR .*)$/);
    sh('ip', ['-n', out, 'route', 'add', '10.77.20.0/24', 'via', '203.0.113.1']);
    expect(tcpAsk(c1, '203.0.113.2', 7000)).toBe('outside 10.77.20.2');
    sh('ip', ['-n', out, 'route', 'del', '10.77.20.0/24', 'via', '203.0.113.1']);
  });

  it('publishes a container port to the outside, the host and other containers', async () => {
    expect(tcpAsk(out, '203.0.113.1', 8080, 2)).toMatch(/TIMEOUT|ERROR/);
    const r = await ns(['publish', '8080:10.77.20.2:80', '--json']);
    expect(r.exitCode, r.stderr).toBe(0);
    // from outside: DNAT, the client address is kept (as docker -p)
    expect(tcpAsk(out, '203.0.113.1', 8080)).toBe('web 203.0.113.2');
    // from the host itself (OUTPUT chain), to its own address and to localhost (route_localnet + masquerade)
    expect(tcpAsk(undefined, '203.0.113.1', 8080)).toBe('web 203.0.113.1');
    expect(tcpAsk(undefined, '127.0.0.1', 8080)).toBe('web 10.77.20.1');
    // hairpin: a container on the same bridge, and the container itself, through the host's address
    expect(tcpAsk(c2, '203.0.113.1', 8080)).toBe('web 10.77.20.1');
    expect(tcpAsk(c1, '203.0.113.1', 8080)).toBe('web 10.77.20.1');
    // repeat is a no-op; another target for the same host port is refused
    expect(JSON.parse((await ns(['publish', '8080:10.77.20.2:80', '--json'])).stdout).changed).toBe(false);
    const clash = await ns(['publish', '8080:10.77.20.3:80']);
    expect(clash.exitCode).toBe(1);
    expect(clash.stderr).toMatch(/^netsetup: host port 8080\/tcp is already published/);
  });

  it('unpublishes, and down removes the published ports of an attachment', async () => {
    expect((await ns(['publish', 'rm', '8080:10.77.20.2:80'])).exitCode).toBe(0);
    expect(tcpAsk(out, '203.0.113.1', 8080, 2)).toMatch(/TIMEOUT|ERROR/);
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
    expect((await ns(['publish', 'rm', '8080:10.77.20.2:80'])).exitCode).toBe(0);
    expect((await ns(['publish', '9090:10.77.20.2:80/tcp', '--host-ip', '203.0.113.1'])).exitCode).toBe(0);
    expect(tcpAsk(out, '203.0.113.1', 9090)).toBe('web 203.0.113.2');
    expect((await ns(['down', '--netns', c1])).exitCode).toBe(0);
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
  });

  it('leaves no rules or links behind', async () => {
    await ns(['down', '--netns', c2]);
    await ns(['bridge', 'rm', br]);
    dropEmptyTables(before);
    const after = netSnapshot();
    expect(after.rules).toEqual(before.rules);
    expect(after.links.filter((l) => l !== up && !l.startsWith(`${up}@`))).toEqual(before.links);
  });
});
