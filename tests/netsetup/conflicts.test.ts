/**
 * What must hold when things do not go the plain way: a bridge whose
 * address the kernel refuses is not left half-made; a repeated `veth` with
 * other settings is refused, naming them; a second interface without a
 * default route (`--gateway none`); leases written in the layout before
 * leases/<ip> still count and are freed by `down`.
 */
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bk, createHost, destroyHost, skipReason, testName } from '../harness/index.js';
import { dropEmptyTables, expectNothingLeft, netSnapshot, ns, ping, refusedNs, sh, shortName, stored, useStateDir, type BinResult } from './helpers.js';

describe.skipIf(skipReason)(`netsetup failures, conflicts, second interfaces, old leases${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const [b1, b2, b3, bf] = ['nsc', 'nsd', 'nsg', 'nsh'].map(shortName) as [string, string, string, string];
  const [c1, c2, c4, c5, c6, p1, p2] = ['c1', 'c2', 'c4', 'c5', 'c6', 'p1', 'p2'].map((h) => testName(`cf-${h}`)) as string[] as [string, string, string, string, string, string, string];
  const hosts = [c1, c2, c4, c5, c6, p1, p2];
  let state = '';
  let before: ReturnType<typeof netSnapshot>;
  const ok = (r: BinResult) => expect(r.exitCode, r.stderr).toBe(0);
  const json = async (args: string[], input?: string) => {
    const r = await ns([...args, '--json'], input);
    ok(r);
    return JSON.parse(r.stdout);
  };
  /** exit `code`, one line and a hint, nothing changed in the kernel (the containers' side too) or the state dir */
  // IPv4 only: an IPv6 link-local address loses its 'tentative' flag by itself
  const inside = () => hosts.map((h) => ['-d link show', '-4 addr show', 'route show'].map((c) => sh('ip', ['-n', h, ...c.split(' ')])).join(''));
  const refused = async (args: string[], code: number, input?: string) =>
    (await refusedNs(args, { state, code, inside, ...(input !== undefined ? { input } : {}) })).stderr;
  const addrs = (dev: string) => sh('ip', ['-4', '-o', 'addr', 'show', 'dev', dev]).split('\n').filter(Boolean).map((l) => l.split(/\s+/)[3]);
  const linkThere = (dev: string) => netSnapshot().links.some((l) => l.split('@')[0] === dev);

  beforeAll(async () => {
    state = useStateDir('conflicts');
    before = netSnapshot();
    for (const h of hosts) createHost(h);
    ok(await ns(['bridge', b1, '10.77.92.1/24']));
    ok(await ns(['bridge', b2, '10.77.93.1/24']));
    ok(await ns(['bridge', b3, '10.77.94.1/24']));
  });
  afterAll(async () => {
    await ns(['down', '-'], hosts.join('\n'));
    for (const b of [b1, b2, b3, bf]) await ns(['bridge', 'rm', b]);
    if (linkThere(bf)) sh('ip', ['link', 'del', bf]);
    for (const h of hosts) destroyHost(h);
    dropEmptyTables(before);
  });

  it('bridge: when the address add fails, the link it made is deleted and a bridge that was there is left as it was', async () => {
    // The kernel accepts any IPv4 address on a new bridge (a clash with
    // another link's address included), so the refusal is injected: an `ip`
    // on PATH that answers `addr add` as the kernel does when it refuses
    // (BOXKIT_NETLINK=0 sends the plan through `ip`); every other command,
    // and what the test checks, is the real kernel's.
    const real = sh('bash', ['-c', 'command -v ip']).trim();
    const dir = join(process.env.BOXKIT_TEST_ROOT!, 'ip-refusing-addr');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'ip'), `#!/bin/bash
if [ "$*" = "-batch -" ]; then
  input=$(cat)
  if grep -q '^addr add' <<<"$input"; then
    head=$(sed '/^addr add/,$d' <<<"$input")
    if [ -n "$head" ]; then printf '%s\\n' "$head" | ${real} -batch - || exit $?; fi
    echo 'RTNETLINK answers: Cannot assign requested address' >&2
    exit 2
  fi
  printf '%s\\n' "$input" | exec ${real} -batch -
fi
exec ${real} "$@"
`);
    chmodSync(join(dir, 'ip'), 0o755);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${dir}:${process.env.PATH}`, BOXKIT_NETLINK: '0' };
    delete env.NODE_EXTRA_CA_CERTS;
    const faulty = async (args: string[]) => {
      const r = await bk('netsetup', args, { env, extendEnv: false });
      return { exitCode: r.exitCode ?? -1, stderr: String(r.stderr) };
    };
    const recorded = () => {
      const f = join(state, 'netsetup', 'state.json');
      return existsSync(f) ? Object.keys(JSON.parse(readFileSync(f, 'utf8')).bridges) : [];
    };

    // a new bridge: nothing of it is left
    const r = await faulty(['bridge', bf, '10.77.95.1/24']);
    expect(r.exitCode, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/^netsetup: .*Cannot assign requested address/);
    expect(linkThere(bf)).toBe(false);
    expect(recorded()).not.toContain(bf);

    // a bridge made by hand (down, no address): still there, still down, still without an address
    sh('ip', ['link', 'add', bf, 'type', 'bridge']);
    const was = sh('ip', ['-d', '-o', 'link', 'show', bf]);
    const again = await faulty(['bridge', bf, '10.77.95.1/24']);
    expect(again.exitCode, again.stderr).toBe(1);
    expect(sh('ip', ['-d', '-o', 'link', 'show', bf])).toBe(was);
    expect(addrs(bf)).toEqual([]);
    expect(recorded()).not.toContain(bf);

    // without the fault the same call completes it
    ok(await ns(['bridge', bf, '10.77.95.1/24']));
    expect(addrs(bf)).toEqual(['10.77.95.1/24']);
    ok(await ns(['bridge', 'rm', bf]));
  });

  it('veth repeated with other settings is refused, naming what differs and changing nothing; the same settings stay idempotent', async () => {
    const first = await json(['veth', '--netns', c1, '--bridge', b1, '--ip', '10.77.92.2/24', '--mtu', '1400']);
    expect(first).toMatchObject({ ip: '10.77.92.2/24', gateway: '10.77.92.1', mtu: 1400, created: true });
    // identical, and --ip auto (the address it has is fine), by flags and by a JSON line
    expect(await json(['veth', '--netns', c1, '--bridge', b1, '--ip', '10.77.92.2/24', '--mtu', '1400'])).toMatchObject({ hostIfname: first.hostIfname, created: false });
    expect(await json(['veth', '--netns', c1, '--bridge', b1, '--mtu', '1400', '--gateway', '10.77.92.1'])).toMatchObject({ created: false });
    expect(await json(['veth', '-'], JSON.stringify({ netns: c1, bridge: b1, mtu: 1400 }))).toEqual([expect.objectContaining({ created: false })]);

    const base = ['veth', '--netns', c1];
    const cases: [string[], RegExp][] = [
      [['--bridge', b1, '--ip', '10.77.92.2/24', '--mtu', '1300'], /mtu 1400, not 1300/],
      [['--bridge', b1, '--ip', '10.77.92.2/24'], /mtu 1400, not default/],
      [['--bridge', b1, '--ip', '10.77.92.3/24', '--mtu', '1400'], /ip 10\.77\.92\.2\/24, not 10\.77\.92\.3\/24/],
      [['--bridge', b1, '--mtu', '1400', '--gateway', '10.77.92.9'], /gateway 10\.77\.92\.1, not 10\.77\.92\.9/],
      [['--bridge', b1, '--mtu', '1400', '--gateway', 'none'], /gateway 10\.77\.92\.1, not none/],
      [['--bridge', b2, '--mtu', '1400'], new RegExp(`bridge ${b1}, not ${b2}`)],
      [['--bridge', b1, '--mtu', '1400', '--hairpin'], /hairpin off, not on/],
      [['--bridge', b1, '--mtu', '1400', '--dry-run', '--ip', '10.77.92.3/24'], /ip 10\.77\.92\.2\/24, not 10\.77\.92\.3\/24/],
    ];
    for (const [flags, what] of cases) {
      const err = await refused([...base, ...flags], 1);
      expect(err).toMatch(new RegExp(`^netsetup: ${first.hostIfname} already attaches ${c1} eth0 with other settings: .*${what.source}`));
      expect(err).toMatch(new RegExp(`hint: netsetup down --host-ifname ${first.hostIfname}`));
    }
    // a JSON line of `veth -` the same
    expect(await refused(['veth', '-'], 1, JSON.stringify({ netns: c1, bridge: b1, mtu: 1300 }))).toMatch(/mtu 1400, not 1300/);
    // an explicit host name taken by another target's attachment
    expect(await refused(['veth', '--netns', c2, '--bridge', b1, '--mtu', '1400', '--ip', '10.77.92.2/24', '--host-ifname', first.hostIfname], 1)).toMatch(new RegExp(`namespace ${c1}, not ${c2}`));
    // the attachment is what it was
    expect(sh('ip', ['-n', c1, '-o', 'link', 'show', 'eth0'])).toContain('mtu 1400');
    expect(sh('ip', ['-n', c1, '-4', '-o', 'addr', 'show', 'eth0'])).toContain('10.77.92.2/24');
    ok(await ns(['down', '--netns', c1]));
  });

  it('a second interface with --gateway none: the first default route stays, both subnets are reached', async () => {
    const peer1 = await json(['veth', '--netns', p1, '--bridge', b1]);
    const peer2 = await json(['veth', '--netns', p2, '--bridge', b2]);
    const eth0 = await json(['veth', '--netns', c2, '--bridge', b1]);
    expect(eth0.gateway).toBe('10.77.92.1');
    const dry = await ns(['veth', '--netns', c2, '--bridge', b2, '--ifname', 'eth1', '--gateway', 'none', '--dry-run']);
    ok(dry);
    expect(dry.stdout).not.toMatch(/route add default/);
    const eth1 = await json(['veth', '--netns', c2, '--bridge', b2, '--ifname', 'eth1', '--gateway', 'none']);
    expect(eth1.gateway).toBeUndefined();
    expect(eth1.ip).toMatch(/^10\.77\.93\.\d+\/24$/);
    // the same as a JSON line of `veth -`: an idempotent repeat
    expect(await json(['veth', '-'], JSON.stringify({ netns: c2, bridge: b2, ifname: 'eth1', gateway: 'none' }))).toEqual([expect.objectContaining({ hostIfname: eth1.hostIfname, created: false })]);
    expect(sh('ip', ['-n', c2, 'route', 'show', 'default']).trim()).toBe('default via 10.77.92.1 dev eth0');
    expect(sh('ip', ['-n', c2, 'route', 'show', 'dev', 'eth1'])).toContain('10.77.93.0/24');
    expect(ping(c2, peer1.ip.split('/')[0])).toBe(true);
    expect(ping(c2, peer2.ip.split('/')[0])).toBe(true);
    expect(ping(p2, eth1.ip.split('/')[0])).toBe(true);
    ok(await ns(['down', '--netns', c2, '--netns', p1, '--netns', p2]));
    expect(sh('ip', ['-n', c2, '-o', 'link', 'show'])).not.toMatch(/eth[01]/);
  });

  it('a lease written in the old layout (leases/<network>_<prefix>/<ip>) is not given out again and is freed by down', async () => {
    const leases = join(state, 'netsetup', 'leases');
    /** what a netsetup before leases/<ip> wrote for this attachment's address */
    const toOldLayout = (ip: string) => {
      const dir = join(leases, '10.77.94.0_24');
      mkdirSync(dir, { recursive: true });
      renameSync(join(leases, ip), join(dir, ip));
    };
    const a = await json(['veth', '--netns', c4, '--bridge', b3]);
    expect(a.ip).toBe('10.77.94.2/24');
    toOldLayout('10.77.94.2');
    expect(stored(state).leases).toEqual(['10.77.94.0_24/10.77.94.2']);
    // neither --ip auto nor the address itself gives it out again
    expect((await json(['veth', '--netns', c5, '--bridge', b3])).ip).toBe('10.77.94.3/24');
    expect(await refused(['veth', '--netns', c6, '--bridge', b3, '--ip', '10.77.94.2/24'], 2)).toMatch(/address 10\.77\.94\.2 is already in use by/);
    expect(ping(c5, '10.77.94.2')).toBe(true); // still c4's
    // down frees it (and what was moved leaves no old directory)
    ok(await ns(['down', '--netns', c4]));
    expect(stored(state).leases).toEqual(['10.77.94.3']);
    expect(readdirSync(leases)).toEqual(['10.77.94.3']);
    expect((await json(['veth', '--netns', c6, '--bridge', b3])).ip).toBe('10.77.94.2/24');

    // down as the first command after the upgrade frees an old-layout lease too
    toOldLayout('10.77.94.2');
    ok(await ns(['down', '--netns', c6]));
    expect(stored(state).leases).toEqual(['10.77.94.3']);
    ok(await ns(['down', '--netns', c5]));
  });

  it('leaves no links, rules, leases or records', async () => {
    for (const b of [b1, b2, b3]) ok(await ns(['bridge', 'rm', b]));
    expectNothingLeft(before, state);
  });
});
