/**
 * The article's figure 6: two nodes (netns), each with its own bridge and a
 * container on its own subnet (10.10.14.0/24 and 10.10.15.0/24), linked on
 * 198.18.77.0/24, with host-gw routes: containers ping across nodes.
 * netsetup runs inside each node (`ip netns exec NODE netsetup ...`), with
 * each node's own state dir; container namespaces are made from the sandbox
 * host so their names outlive `ip netns exec`.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { netSnapshot, nsIn, ping, sh, type BinResult } from './helpers.js';

describe.skipIf(skipReason)(`netsetup multi-node host-gw${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const n1 = testName('mn-node1');
  const n2 = testName('mn-node2');
  const c14 = testName('mn-c14');
  const c15 = testName('mn-c15');
  const s1 = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'netsetup-mn1');
  const s2 = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'netsetup-mn2');
  let before: ReturnType<typeof netSnapshot>;
  const ok = (r: BinResult) => expect(r.exitCode, r.stderr).toBe(0);

  beforeAll(() => {
    before = netSnapshot();
    mkdirSync(s1, { recursive: true });
    mkdirSync(s2, { recursive: true });
    for (const h of [n1, n2, c14, c15]) createHost(h);
    // the wire between the nodes (the article's 192.168.122.0/24, here 198.18.77.0/24)
    sh('ip', ['-n', n1, 'link', 'add', 'ens3', 'type', 'veth', 'peer', 'name', 'ens3', 'netns', n2]);
    sh('ip', ['-n', n1, 'addr', 'add', '198.18.77.1/24', 'dev', 'ens3']);
    sh('ip', ['-n', n2, 'addr', 'add', '198.18.77.2/24', 'dev', 'ens3']);
    sh('ip', ['-n', n1, 'link', 'set', 'ens3', 'up']);
    sh('ip', ['-n', n2, 'link', 'set', 'ens3', 'up']);
  });
  afterAll(() => {
    for (const h of [c14, c15, n1, n2]) destroyHost(h);
  });

  it('builds each node with netsetup and routes between them', async () => {
    ok(await nsIn(n1, s1, ['bridge', 'mydocker', '10.10.14.1/24']));
    ok(await nsIn(n2, s2, ['bridge', 'mydocker', '10.10.15.1/24']));
    ok(await nsIn(n1, s1, ['veth', '--netns', c14, '--bridge', 'mydocker', '--ip', '10.10.14.2/24']));
    ok(await nsIn(n2, s2, ['veth', '--netns', c15, '--bridge', 'mydocker', '--ip', '10.10.15.2/24']));
    // no route yet: the nodes do not know each other's container subnets
    expect(ping(c14, '10.10.15.2')).toBe(false);
    const dry = await nsIn(n1, s1, ['route', 'add', '10.10.15.0/24', 'via', '198.18.77.2', '--dry-run']);
    expect(dry.stdout).toContain('ip route add 10.10.15.0/24 via 198.18.77.2');
    ok(await nsIn(n1, s1, ['route', 'add', '10.10.15.0/24', 'via', '198.18.77.2']));
    ok(await nsIn(n2, s2, ['route', 'add', '10.10.14.0/24', 'via', '198.18.77.1', '--dev', 'ens3']));
    expect(sh('ip', ['-n', n1, 'route'])).toContain('10.10.15.0/24 via 198.18.77.2 dev ens3');
    expect(sh('ip', ['netns', 'exec', n1, 'cat', '/proc/sys/net/ipv4/ip_forward']).trim()).toBe('1');
    // idempotent
    ok(await nsIn(n1, s1, ['route', 'add', '10.10.15.0/24', 'via', '198.18.77.2']));
  });

  it('containers on different nodes ping each other', () => {
    expect(ping(c14, '10.10.15.2')).toBe(true);
    expect(ping(c15, '10.10.14.2')).toBe(true);
    expect(ping(c14, '10.10.15.1')).toBe(true);
  });

  it('route add refuses a route it did not make (no takeover), names the failing command, and ls lists its routes', async () => {
    // a route of another program: add neither replaces it nor adopts it, and rm leaves it
    sh('ip', ['-n', n1, 'route', 'add', '10.10.16.0/24', 'via', '198.18.77.2']);
    for (const via of ['198.18.77.3', '198.18.77.2']) {
      const r = await nsIn(n1, s1, ['route', 'add', '10.10.16.0/24', 'via', via]);
      expect(r.exitCode, r.stderr).toBe(1);
      expect(r.stderr).toMatch(/^netsetup: route 10\.10\.16\.0\/24 exists \(via 198\.18\.77\.2 dev ens3\) and was not made by netsetup\nhint: .*$/);
      expect(sh('ip', ['-n', n1, 'route', 'show', '10.10.16.0/24']).trim()).toBe('10.10.16.0/24 via 198.18.77.2 dev ens3');
    }
    const rm = await nsIn(n1, s1, ['route', 'rm', '10.10.16.0/24', 'via', '198.18.77.2']);
    expect(rm.exitCode, rm.stderr).toBe(1);
    expect(rm.stderr).toMatch(/^netsetup: route 10\.10\.16\.0\/24 via 198\.18\.77\.2 was not made by netsetup\n/);
    expect(sh('ip', ['-n', n1, 'route', 'show', '10.10.16.0/24']).trim()).toBe('10.10.16.0/24 via 198.18.77.2 dev ens3');
    sh('ip', ['-n', n1, 'route', 'del', '10.10.16.0/24', 'via', '198.18.77.2']);
    // its own route: the same again is a no-op, another gateway is refused
    ok(await nsIn(n1, s1, ['route', 'add', '10.10.15.0/24', 'via', '198.18.77.2']));
    expect(JSON.parse((await nsIn(n1, s1, ['route', 'add', '10.10.15.0/24', 'via', '198.18.77.2', '--json'])).stdout).changed).toBe(false);
    const other = await nsIn(n1, s1, ['route', 'add', '10.10.15.0/24', 'via', '198.18.77.9']);
    expect(other.exitCode).toBe(1);
    expect(other.stderr).toMatch(/^netsetup: route 10\.10\.15\.0\/24: netsetup's route is via 198\.18\.77\.2 dev ens3, not via 198\.18\.77\.9\nhint: netsetup route rm 10\.10\.15\.0\/24 via 198\.18\.77\.2 first$/);
    expect(sh('ip', ['-n', n1, 'route', 'show', '10.10.15.0/24']).trim()).toBe('10.10.15.0/24 via 198.18.77.2 dev ens3');
    // ls lists it (text and JSON)
    expect((await nsIn(n1, s1, ['ls'])).stdout).toContain('route 10.10.15.0/24 via 198.18.77.2');
    expect(JSON.parse((await nsIn(n1, s1, ['ls', '--json'])).stdout).routes).toEqual([{ cidr: '10.10.15.0/24', via: '198.18.77.2', present: true }]);
    // the kernel's refusal names the command, not `ip -batch -`; nothing is recorded
    const bad = await nsIn(n1, s1, ['route', 'add', '10.10.20.0/24', 'via', '8.8.8.8']);
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/^netsetup: ip route add 10\.10\.20\.0\/24 via 8\.8\.8\.8: Error: /);
    expect(JSON.parse((await nsIn(n1, s1, ['ls', '--json'])).stdout).routes).toHaveLength(1);
  });

  it('route rm cuts the path, and succeeds when gone; with another gateway than its own route\'s it refuses (it said already gone, exit 0, the route left)', async () => {
    for (const dry of [[], ['--dry-run']]) {
      const wrong = await nsIn(n1, s1, ['route', 'rm', '10.10.15.0/24', 'via', '198.18.77.9', ...dry]);
      expect(wrong.exitCode).toBe(1);
      expect(wrong.stdout).toBe('');
      expect(wrong.stderr).toBe("netsetup: route 10.10.15.0/24: netsetup's route is via 198.18.77.2 dev ens3, not via 198.18.77.9\nhint: netsetup route rm 10.10.15.0/24 via 198.18.77.2");
      expect(sh('ip', ['-n', n1, 'route', 'show', '10.10.15.0/24']).trim()).toBe('10.10.15.0/24 via 198.18.77.2 dev ens3');
      expect(ping(c14, '10.10.15.2')).toBe(true);
    }
    ok(await nsIn(n1, s1, ['route', 'rm', '10.10.15.0/24', 'via', '198.18.77.2']));
    expect(ping(c14, '10.10.15.2')).toBe(false);
    ok(await nsIn(n1, s1, ['route', 'rm', '10.10.15.0/24', 'via', '198.18.77.2']));
  });

  it('teardown inside the nodes leaves nothing on the sandbox host', async () => {
    ok(await nsIn(n1, s1, ['down', '--netns', c14]));
    ok(await nsIn(n2, s2, ['down', '--netns', c15]));
    expect(sh('ip', ['-n', n1, '-o', 'link', 'show', 'type', 'veth'])).not.toContain('bk');
    ok(await nsIn(n1, s1, ['bridge', 'rm', 'mydocker']));
    ok(await nsIn(n2, s2, ['bridge', 'rm', 'mydocker']));
    expect(netSnapshot().links).toEqual(before.links);
  });
});
