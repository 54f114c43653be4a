/**
 * Edge cases found in review, each one first seen failing on the real
 * kernel: what a user of ip/iptables/CNI would hit, and what must be left
 * when it is refused (nothing).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bk, createHost, destroyHost, skipReason, startResponder, tcpAsk, testName } from '../harness/index.js';
import { dropEmptyTables, expectNothingLeft, netSnapshot, ns, ping, refusedNs, sh, shortName, stored, useStateDir, type BinResult } from './helpers.js';

describe.skipIf(skipReason)(`netsetup edge cases${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const br = shortName('nse');
  const c = [1, 2, 3].map((i) => testName(`ed-c${i}`));
  let state = '';
  let before: ReturnType<typeof netSnapshot>;
  const ok = (r: BinResult) => expect(r.exitCode, r.stderr).toBe(0);
  /** exit 2 (or `code`), one line (and maybe a hint), nothing changed in the kernel or the state dir */
  const refused = (args: string[], input?: string, code = 2) => refusedNs(args, { state, code, ...(input !== undefined ? { input } : {}) });

  beforeAll(async () => {
    state = useStateDir('edge');
    before = netSnapshot();
    for (const h of c) createHost(h);
    ok(await ns(['bridge', br, '10.77.80.1/24']));
  });
  afterAll(async () => {
    await ns(['down', '-'], c.join('\n'));
    for (const p of ['8080:10.77.80.9:80', '9090:10.77.80.9:80', '9191:10.77.80.9:80']) await ns(['publish', 'rm', p]);
    for (const p of ['9090:10.77.80.10:80', '9090:10.77.80.9:80/udp', '9191:10.77.80.10:80']) await ns(['publish', 'rm', p, '--host-ip', '127.0.0.1']);
    await ns(['bridge', 'rm', br]);
    await ns(['bridge', 'rm', shortName('nsf')]);
    for (const h of c) destroyHost(h);
    // what a failing run may have left: links made from a name template
    for (const l of netSnapshot().links) if (!before.links.includes(l)) spawnSync('ip', ['link', 'del', l.split('@')[0]!], { stdio: 'ignore' });
    dropEmptyTables(before);
  });

  it('an address is leased once whatever prefix it is written with', async () => {
    ok(await ns(['veth', '--netns', c[0]!, '--bridge', br, '--ip', '10.77.80.5/25']));
    const dup = await refused(['veth', '--netns', c[1]!, '--bridge', br, '--ip', '10.77.80.5/24']);
    expect(dup.stderr).toMatch(/^netsetup: address 10\.77\.80\.5 is already in use by/);
    ok(await ns(['veth', '--netns', c[1]!, '--bridge', br, '--ip', '10.77.80.2/26']));
    // auto skips addresses leased with another prefix
    const a = await ns(['veth', '--netns', c[2]!, '--bridge', br, '--json']);
    ok(a);
    expect(JSON.parse(a.stdout).ip).toBe('10.77.80.3/24');
    ok(await ns(['down', '-'], c.join('\n')));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('refuses interface names the kernel reads as a template (%d), creating nothing', async () => {
    await refused(['veth', '--netns', c[0]!, '--bridge', br, '--host-ifname', 'bk%d']);
    await refused(['veth', '--netns', c[0]!, '--bridge', br, '--ifname', 'eth%d']);
    await refused(['veth', '-'], JSON.stringify({ netns: c[0], bridge: br, hostIfname: 'x%dy' }));
    await refused(['bridge', 'br%d', '10.77.81.1/24']);
    expect(sh('ip', ['-n', c[0]!, '-o', 'link', 'show'])).not.toMatch(/eth\d/);
  });

  it('publish rm of a mapping already gone whose host port another container took since succeeds (exit 0: a set -e teardown stopped there, exit 1), says on stderr in one line what the port is published to now, and leaves that mapping, its rules and record alone', async () => {
    ok(await ns(['veth', '--netns', c[0]!, '--bridge', br, '--ip', '10.77.80.9/24']));
    ok(await ns(['publish', '8080:10.77.80.9:80']));
    const rules = sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A '));
    for (const [spec, extra] of [['8080:10.77.80.8:80', []], ['8080:10.77.80.9:81', ['--json']], ['8080:10.77.80.9:80', ['--host-ip', '127.0.0.1']], ['8080:10.77.80.8:80', ['--dry-run']]] as const) {
      const rm = await ns(['publish', 'rm', spec, ...extra]);
      const on = extra[0] === '--host-ip' ? ' on every address' : '';
      const gone = `${extra[0] === '--host-ip' ? '127.0.0.1:' : ''}${spec}/tcp`;
      expect([rm.exitCode, rm.stderr], rm.stderr).toEqual([0, `netsetup: warning: ${gone} was already gone; host port 8080/tcp is published${on} to 10.77.80.9:80 now (left as it is)`]);
      if (extra[0] === '--json') {
        expect(JSON.parse(rm.stdout)).toEqual({ hostPort: 8080, containerIp: '10.77.80.9', containerPort: 81, proto: 'tcp', spec: gone, changed: false, removed: false, hostPortTakenBy: '8080:10.77.80.9:80/tcp' });
      } else if (extra[0] !== '--dry-run') expect(rm.stdout).toBe(`already gone: ${gone}`);
      else expect(rm.stdout).toBe('');
      expect(sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A '))).toEqual(rules);
    }
    const l = JSON.parse((await ns(['ls', '--json'])).stdout);
    expect(l.publish.map((p: { spec: string }) => p.spec)).toEqual(['8080:10.77.80.9:80/tcp']);
    // the host port is still taken, and still reaches its container's port
    const clash = await ns(['publish', '8080:10.77.80.7:80']);
    expect(clash.exitCode, clash.stderr).toBe(1);
    expect(sh('iptables-save', ['-t', 'nat']).match(/--dport 8080 .*-j DNAT/g)).toHaveLength(1);
    const web = await startResponder(c[0]!, 80, 'web');
    try {
      expect(tcpAsk(undefined, '10.77.80.1', 8080)).toBe('web 10.77.80.1');
    } finally {
      await web.stop();
    }
    const rm = await ns(['publish', 'rm', '8080:10.77.80.9:80', '--json']);
    expect([rm.exitCode, rm.stderr, JSON.parse(rm.stdout).removed]).toEqual([0, '', true]);
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
    ok(await ns(['down', '--netns', c[0]!]));
  });

  it('down --host-ifname of a link netsetup has no record of (another tool\'s veth) is refused, dry run, json and batch alike, removing nothing (it deleted the veth)', async () => {
    const v = shortName('nsx');
    sh('ip', ['link', 'add', v, 'type', 'veth', 'peer', 'name', `${v}p`]);
    try {
      const a = JSON.parse((await ns(['veth', '--netns', c[0]!, '--bridge', br, '--json'])).stdout);
      for (const [args, input] of [[['--host-ifname', v]], [['--host-ifname', v, '--dry-run']], [['--host-ifname', v, '--json']],
        [['--netns', c[0]!, '--host-ifname', v]], [['-'], `${c[0]}\n{"hostIfname":"${v}"}\n`]] as [string[], string?][]) {
        const r = await ns(['down', ...args], input);
        expect(r.exitCode, r.stderr).toBe(1);
        expect(r.stdout).toBe('');
        expect(r.stderr.split('\n').filter(Boolean)).toEqual([
          `netsetup: down ${v}: a link that netsetup has no record of (not made by netsetup, or its state was lost)`,
          `hint: delete it by hand if it is no longer needed: ip link del ${v}`,
        ]);
        expect(sh('ip', ['-o', 'link', 'show', v])).toContain(`${v}@${v}p`);
        // the known attachment of the same call is whole
        expect(sh('ip', ['-o', 'link', 'show', a.hostIfname])).toContain(a.hostIfname);
        expect(stored(state).attachments).toHaveLength(1);
      }
    } finally {
      sh('ip', ['link', 'del', v]);
    }
    // gone, it is fine (removing what is gone succeeds)
    ok(await ns(['down', '--host-ifname', v]));
    ok(await ns(['down', '--netns', c[0]!]));
  });

  it('a namespace gets one default route: a second interface with one is refused before anything is made (single and batch; it failed in the kernel after making its links), and --gateway none attaches it', async () => {
    const inside = (h: string) => () => [sh('ip', ['-n', h, '-o', 'link', 'show']).replace(/\\.*$/gm, '').split('\n').map((l) => l.split(':')[1]).join(','), sh('ip', ['-n', h, 'route'])];
    const hint = 'hint: attach eth1 without one: --gateway none (in a JSON line: "gateway":"none")';
    // single calls: eth0 has netsetup's default route
    const a = JSON.parse((await ns(['veth', '--netns', c[2]!, '--bridge', br, '--json'])).stdout);
    for (const dry of [[], ['--dry-run']]) {
      const r = await refusedNs(['veth', '--netns', c[2]!, '--bridge', br, '--ifname', 'eth1', ...dry], { state, inside: inside(c[2]!) });
      expect(r.stderr.split('\n').filter(Boolean)).toEqual([`netsetup: netns ${c[2]} eth1: a namespace has one default route, and eth0 has one (via 10.77.80.1, attached by netsetup as ${a.hostIfname})`, hint]);
    }
    ok(await ns(['veth', '--netns', c[2]!, '--bridge', br, '--ifname', 'eth1', '--gateway', 'none']));
    expect(sh('ip', ['-n', c[2]!, 'route']).match(/^default /gm)).toEqual(['default ']);
    ok(await ns(['down', '--netns', c[2]!]));
    // a batch: two lines for one namespace, both with the default route
    const line = (o: object) => JSON.stringify({ netns: c[2], bridge: br, ...o });
    for (const dry of [[], ['--dry-run']]) {
      const r = await refusedNs(['veth', '-', ...dry], { state, input: `${line({})}\n${line({ ifname: 'eth1' })}\n`, inside: inside(c[2]!) });
      expect(r.stderr.split('\n').filter(Boolean)).toEqual([`netsetup: netns ${c[2]} eth1: a namespace has one default route, and eth0 of this batch gets one (via 10.77.80.1)`, hint]);
    }
    ok(await ns(['veth', '-'], `${line({})}\n${line({ ifname: 'eth1', gateway: 'none' })}\n`));
    expect(sh('ip', ['-n', c[2]!, 'route']).match(/^default /gm)).toEqual(['default ']);
    ok(await ns(['down', '--netns', c[2]!]));
    // one the namespace has already (made by hand): the kernel refuses it, everything made is undone, and the line says so
    ok(await ns(['veth', '--netns', c[2]!, '--bridge', br, '--ifname', 'eth1', '--gateway', 'none']));
    sh('ip', ['-n', c[2]!, 'route', 'add', 'default', 'via', '10.77.80.1', 'dev', 'eth1']);
    // (and through `ip -n NS -batch -`, BOXKIT_NETLINK=0, whose refusal names only the namespace: it said 'RTNETLINK answers: File exists')
    for (const netlink of ['1', '0']) {
      process.env.BOXKIT_NETLINK = netlink;
      try {
        const k = await refusedNs(['veth', '--netns', c[2]!, '--bridge', br], { state, code: 1, inside: inside(c[2]!) });
        expect(k.stderr.split('\n').filter(Boolean), `BOXKIT_NETLINK=${netlink}`).toEqual([`netsetup: netns ${c[2]} eth0: a namespace has one default route, and it has one already (the kernel refused this one); nothing was made`,
          'hint: attach eth0 without one: --gateway none (in a JSON line: "gateway":"none")']);
      } finally {
        delete process.env.BOXKIT_NETLINK;
      }
    }
    ok(await ns(['down', '--netns', c[2]!]));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('veth - refuses a JSON line whose value has the wrong type, making nothing ("hairpin":"false" turned hairpin on)', async () => {
    const line = (o: object) => `${JSON.stringify({ netns: c[2], bridge: br, ...o })}\n`;
    for (const [o, msg] of [[{ hairpin: 'false' }, `'hairpin' must be a boolean (true or false), not "false"`], [{ mtu: '1400' }, `'mtu' must be a number, not "1400"`]] as const) {
      const r = await refused(['veth', '-'], line({}).replace(`"netns":"${c[2]}"`, `"netns":"${c[1]}"`) + line(o));
      expect(r.stderr.split('\n')[0]).toBe(`netsetup: stdin line 2: ${msg}`);
    }
    const a = await ns(['veth', '-', '--json'], line({ hairpin: false, mtu: 1400 }));
    ok(a);
    const host = JSON.parse(a.stdout)[0].hostIfname;
    expect(readFileSync(`/sys/class/net/${host}/brport/hairpin_mode`, 'utf8').trim()).toBe('0');
    expect(readFileSync(`/sys/class/net/${host}/mtu`, 'utf8').trim()).toBe('1400');
    ok(await ns(['down', '--netns', c[2]!]));
  });

  it('down - reads host-ifname as veth - does, and refuses a field it would not look at, removing nothing (a typo was dropped and the rest removed)', async () => {
    const a = JSON.parse((await ns(['veth', '--netns', c[2]!, '--bridge', br, '--json'])).stdout);
    const r = await refused(['down', '-'], `${JSON.stringify({ netns: c[2], hostIfName: 'bkother' })}\n`);
    expect(r.stderr.split('\n')[0]).toBe("netsetup: stdin line 1: unknown field 'hostIfName'");
    const d = await ns(['down', '-', '--json'], `${JSON.stringify({ 'host-ifname': a.hostIfname })}\n`);
    ok(d);
    expect(JSON.parse(d.stdout)).toEqual([expect.objectContaining({ hostIfname: a.hostIfname, removed: true })]);
    expect(sh('ip', ['-o', 'link', 'show'])).not.toContain(a.hostIfname);
  });

  it('down - and veth - refuse a JSON field of the wrong type and two names of one field, naming the line, removing and making nothing ({"netns":5} failed inside, exit 1; ["x"] was coerced; of two names one was taken)', async () => {
    const a = JSON.parse((await ns(['veth', '--netns', c[2]!, '--bridge', br, '--json'])).stdout);
    try {
      const first = `${JSON.stringify({ netns: c[2] })}\n`;
      for (const [o, msg] of [
        [{ netns: 5 }, "'netns' must be a string, not 5"],
        [{ netns: [c[2]] }, `'netns' must be a string, not ["${c[2]}"]`],
        [{ pid: '1' }, `'pid' must be a number, not "1"`],
        [{ hostIfname: a.hostIfname, 'host-ifname': 'bkother' }, "'hostIfname' and 'host-ifname' are two names of one field"],
      ] as const) {
        const r = await refused(['down', '-'], `${first}\n${JSON.stringify(o)}\n`);
        expect(r.stderr.split('\n')[0]).toBe(`netsetup: stdin line 3: ${msg}`);
      }
      const v = await refused(['veth', '-'], `${JSON.stringify({ netns: c[1], bridge: br, 'host-ifname': 'bkone', hostIfname: 'bktwo' })}\n`);
      expect(v.stderr.split('\n')[0]).toBe("netsetup: stdin line 1: 'host-ifname' and 'hostIfname' are two names of one field");
      expect(sh('ip', ['-o', 'link', 'show'])).toContain(a.hostIfname);
    } finally {
      ok(await ns(['down', '--netns', c[2]!]));
    }
  });

  it('a repeated veth puts its host end back on a bridge deleted and made again by hand (it said "already there" with the container cut off)', async () => {
    const b = shortName('nsg');
    ok(await ns(['bridge', b, '10.77.84.1/24']));
    try {
      const a = JSON.parse((await ns(['veth', '--netns', c[2]!, '--bridge', b, '--hairpin', '--json'])).stdout);
      sh('ip', ['link', 'del', b]);
      ok(await ns(['bridge', b, '10.77.84.1/24']));
      expect(sh('ip', ['-o', 'link', 'show', a.hostIfname])).not.toContain(`master ${b}`);
      expect(ping(c[2], '10.77.84.1')).toBe(false);
      const dry = await ns(['veth', '--netns', c[2]!, '--bridge', b, '--hairpin', '--dry-run']);
      expect(dry.stdout.split('\n').filter(Boolean)).toEqual([`ip link set ${a.hostIfname} master ${b}`, `ip link set ${a.hostIfname} type bridge_slave hairpin on`, `ip link set ${a.hostIfname} up`]);
      // (the human line said "(already there)" after putting it back)
      const r = await ns(['veth', '--netns', c[2]!, '--bridge', b, '--hairpin']);
      ok(r);
      expect(r.stdout.trim()).toBe(`${c[2]} eth0 ${a.ip} via 10.77.84.1 <-> ${a.hostIfname} on ${b} (put back on its bridge)`);
      expect(sh('ip', ['-o', 'link', 'show', a.hostIfname])).toContain(`master ${b}`);
      expect(readFileSync(`/sys/class/net/${a.hostIfname}/brport/hairpin_mode`, 'utf8').trim()).toBe('1');
      expect(ping(c[2], '10.77.84.1')).toBe(true);
      // on its bridge: a repeat changes nothing (no ip read and no request beyond the look)
      const again = await ns(['veth', '--netns', c[2]!, '--bridge', b, '--hairpin', '--dry-run']);
      expect(again.stdout).toBe('');
      const json = await ns(['veth', '--netns', c[2]!, '--bridge', b, '--hairpin', '--json']);
      expect(JSON.parse(json.stdout)).toEqual({ ...a, created: false });
      expect((await ns(['veth', '--netns', c[2]!, '--bridge', b, '--hairpin'])).stdout).toMatch(/ \(already there\)$/);
    } finally {
      await ns(['down', '--netns', c[2]!]);
      await ns(['bridge', 'rm', b]);
    }
  });

  it('a repeated veth putting its host end back on a remade bridge keeps the hairpin publish turned on (the container reached its own published port no more)', async () => {
    const b = shortName('nsh');
    ok(await ns(['bridge', b, '10.77.85.1/24']));
    const web = await startResponder(c[1]!, 80, 'web');
    try {
      const a = JSON.parse((await ns(['veth', '--netns', c[1]!, '--bridge', b, '--ip', '10.77.85.7/24', '--json'])).stdout);
      ok(await ns(['publish', '8282:10.77.85.7:80']));
      const hairpinMode = () => readFileSync(`/sys/class/net/${a.hostIfname}/brport/hairpin_mode`, 'utf8').trim();
      expect(hairpinMode()).toBe('1');
      expect(tcpAsk(c[1]!, '10.77.85.1', 8282)).toBe('web 10.77.85.1');
      sh('ip', ['link', 'del', b]);
      ok(await ns(['bridge', b, '10.77.85.1/24']));
      ok(await ns(['veth', '--netns', c[1]!, '--bridge', b, '--ip', '10.77.85.7/24']));
      expect(sh('ip', ['-o', 'link', 'show', a.hostIfname])).toContain(`master ${b}`);
      expect(hairpinMode()).toBe('1');
      expect(tcpAsk(c[1]!, '10.77.85.1', 8282)).toBe('web 10.77.85.1');
    } finally {
      await web.stop();
      await ns(['publish', 'rm', '8282:10.77.85.7:80']);
      await ns(['down', '--netns', c[1]!]);
      await ns(['bridge', 'rm', b]);
    }
  });

  it('publish --host-ip 0.0.0.0 is every address, as docker -p reads it (its DNAT rule was -d 0.0.0.0/32, which nothing matches)', async () => {
    ok(await ns(['veth', '--netns', c[2]!, '--bridge', br, '--ip', '10.77.80.20/24']));
    const r = await ns(['publish', '8181:10.77.80.20:80', '--host-ip', '0.0.0.0', '--json']);
    ok(r);
    expect(JSON.parse(r.stdout)).toEqual({ hostPort: 8181, containerIp: '10.77.80.20', containerPort: 80, proto: 'tcp', spec: '8181:10.77.80.20:80/tcp', changed: true });
    const dnat = sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.includes('--dport 8181') && l.includes('-j DNAT'));
    expect(dnat).toEqual(['-A BOXKIT-DNAT -p tcp -m tcp --dport 8181 -m comment --comment "boxkit publish 8181:10.77.80.20:80/tcp" -j DNAT --to-destination 10.77.80.20:80']);
    ok(await ns(['publish', 'rm', '8181:10.77.80.20:80', '--host-ip', '0.0.0.0']));
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('8181');
    ok(await ns(['down', '--netns', c[2]!]));
  });

  it('publish --host-ip of an address this host does not have is refused before anything is made, dry run or not (it wrote a DNAT rule that never matched); once the host has it, it is published and reached, and publish rm of it works after the address is gone', async () => {
    ok(await ns(['veth', '--netns', c[2]!, '--bridge', br, '--ip', '10.77.80.21/24']));
    const web = await startResponder(c[2]!, 80, 'web');
    try {
      for (const dry of [[], ['--dry-run'], ['--json']]) {
        const r = await refused(['publish', ...dry, '8484:10.77.80.21:80', '--host-ip', '10.77.79.1']);
        expect(r.stdout).toBe('');
        expect(r.stderr.split('\n').filter(Boolean)).toEqual([
          'netsetup: host address 10.77.79.1 is not an address of this host: nothing sent to it would reach port 8484/tcp',
          'hint: publish on one of its addresses (ip -4 addr), or on every address: no host address, or 0.0.0.0',
        ]);
      }
      expect(JSON.parse((await ns(['ls', '--json'])).stdout).publish).toEqual([]);
      // an address of the host's (the kernel routes it as local: 127.0.0.5 of lo's 127.0.0.0/8 too) is taken
      sh('ip', ['addr', 'add', '10.77.79.1/32', 'dev', br]);
      ok(await ns(['publish', '8484:10.77.80.21:80', '--host-ip', '10.77.79.1']));
      expect(tcpAsk(undefined, '10.77.79.1', 8484)).toBe('web 10.77.79.1');
      ok(await ns(['publish', '8585:10.77.80.21:80', '--host-ip', '127.0.0.5', '--dry-run']));
      // removing it needs no such address: removing what is gone, or what the host no longer has, succeeds
      sh('ip', ['addr', 'del', '10.77.79.1/32', 'dev', br]);
      const rm = await ns(['publish', 'rm', '8484:10.77.80.21:80', '--host-ip', '10.77.79.1']);
      expect([rm.exitCode, rm.stdout, rm.stderr]).toEqual([0, 'unpublished 10.77.79.1:8484:10.77.80.21:80/tcp', '']);
      expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('8484');
    } finally {
      await web.stop();
      spawnSync('ip', ['addr', 'del', '10.77.79.1/32', 'dev', br], { stdio: 'ignore' });
      await ns(['publish', 'rm', '8484:10.77.80.21:80', '--host-ip', '10.77.79.1']);
      ok(await ns(['down', '--netns', c[2]!]));
    }
  });

  it('a mapping on 0.0.0.0 recorded by a build before 77c14b5 (state in /run outlives an upgrade) is every address: a clash hints a publish rm that works, and publish rm --host-ip 0.0.0.0 removes it', async () => {
    ok(await ns(['veth', '--netns', c[2]!, '--bridge', br, '--ip', '10.77.80.30/24']));
    try {
      // what that build made of --host-ip 0.0.0.0: published on one address, that address then made 0.0.0.0 in the rules and the record
      ok(await ns(['publish', '8383:10.77.80.30:80', '--host-ip', '10.77.80.1']));
      const old = (x: string) => x.replaceAll('10.77.80.1:', '0.0.0.0:').replaceAll('10.77.80.1/32', '0.0.0.0/32').replaceAll('"10.77.80.1"', '"0.0.0.0"');
      expect(spawnSync('iptables-restore', [], { input: old(sh('iptables-save', ['-t', 'nat'])) }).status).toBe(0);
      const file = join(state, 'netsetup', 'state.json');
      writeFileSync(file, old(readFileSync(file, 'utf8')));
      expect(sh('iptables-save', ['-t', 'nat'])).toContain('-A BOXKIT-DNAT -d 0.0.0.0/32 -p tcp -m tcp --dport 8383 -m comment --comment "boxkit publish 0.0.0.0:8383:10.77.80.30:80/tcp"');
      const clash = await ns(['publish', '8383:10.77.80.30:81']);
      expect(clash.exitCode, clash.stderr).toBe(1);
      expect(clash.stderr.split('\n')).toEqual(['netsetup: host port 8383/tcp is already published to 10.77.80.30:80', 'hint: netsetup publish rm 8383:10.77.80.30:80/tcp']);
      // (it said 'published on 0.0.0.0 ... not as ...', hint: the same command)
      const rm = await ns(['publish', 'rm', '8383:10.77.80.30:80', '--host-ip', '0.0.0.0']);
      ok(rm);
      expect(rm.stdout.trim()).toBe('unpublished 8383:10.77.80.30:80/tcp');
      expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('8383');
      expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).publish)).toEqual([]);
      // the library reads 0.0.0.0 as every address too, not only the CLI's parser
      const lib = await import('@boxkit/netsetup');
      await lib.publish({ hostPort: 8383, containerIp: '10.77.80.30', containerPort: 80, proto: 'tcp', hostIp: '0.0.0.0' });
      expect(sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.includes('--dport 8383'))).toEqual(['-A BOXKIT-DNAT -p tcp -m tcp --dport 8383 -m comment --comment "boxkit publish 8383:10.77.80.30:80/tcp" -j DNAT --to-destination 10.77.80.30:80']);
      expect((await lib.unpublish({ hostPort: 8383, containerIp: '10.77.80.30', containerPort: 80, proto: 'tcp', hostIp: '0.0.0.0' })).changed).toBe(true);
      expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('8383');
    } finally {
      for (const h of ['0.0.0.0', '10.77.80.1']) await ns(['publish', 'rm', '8383:10.77.80.30:80', '--host-ip', h]);
      ok(await ns(['down', '--netns', c[2]!]));
    }
  });

  it('a host port published on every address is not published again on one of them, and the other way round', async () => {
    ok(await ns(['veth', '--netns', c[0]!, '--bridge', br, '--ip', '10.77.80.9/24']));
    ok(await ns(['veth', '--netns', c[1]!, '--bridge', br, '--ip', '10.77.80.10/24']));
    ok(await ns(['publish', '9090:10.77.80.9:80']));
    const clash = await ns(['publish', '9090:10.77.80.10:80', '--host-ip', '127.0.0.1']);
    expect(clash.exitCode, clash.stderr).toBe(1);
    expect(clash.stderr).toMatch(/^netsetup: host port .*9090\/tcp is already published/);
    ok(await ns(['publish', '9090:10.77.80.9:80/udp', '--host-ip', '127.0.0.1'])); // another protocol is another port
    ok(await ns(['publish', 'rm', '9090:10.77.80.9:80/udp', '--host-ip', '127.0.0.1']));
    ok(await ns(['publish', 'rm', '9090:10.77.80.9:80']));
    ok(await ns(['publish', '9191:10.77.80.10:80', '--host-ip', '127.0.0.1']));
    const back = await ns(['publish', '9191:10.77.80.9:80']);
    expect(back.exitCode, back.stderr).toBe(1);
    // the hint is a command that works
    const hint = back.stderr.split('\n').find((l) => l.startsWith('hint: netsetup '));
    expect(hint).toBe('hint: netsetup publish rm 9191:10.77.80.10:80/tcp --host-ip 127.0.0.1');
    ok(await ns(hint!.split(' ').slice(2)));
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
    ok(await ns(['down', '--netns', c[0]!, '--netns', c[1]!]));
  });

  it('publish refuses an address of a netsetup bridge that no container holds, changing nothing', async () => {
    const r = await refused(['publish', '8080:10.77.80.9:80']);
    expect(r.stderr).toMatch(new RegExp(`^netsetup: no container is attached at 10\\.77\\.80\\.9 \\(bridge ${br}\\)$`, 'm'));
    // a dry run shows the rules (to preview them before attaching) and warns that a real run would refuse
    const dry = await refused(['publish', '8080:10.77.80.9:80', '--dry-run'], undefined, 0);
    expect(dry.stderr).toBe(`netsetup: warning: no container is attached at 10.77.80.9 (bridge ${br}): a real run would refuse it`);
    expect(dry.stdout).toMatch(/^iptables -t nat -A BOXKIT-DNAT -p tcp -m tcp --dport 8080 .*--to-destination 10\.77\.80\.9:80$/m);
    expect(dry.stdout).toMatch(/^iptables -t nat -A BOXKIT-PUB-MASQ -s 10\.77\.80\.0\/24 -d 10\.77\.80\.9\/32 .*hairpin.* -j MASQUERADE$/m);
    // an address outside netsetup's bridges (another runtime's container, a routed host) is published as before
    ok(await ns(['publish', '8080:10.77.99.9:80']));
    ok(await ns(['publish', 'rm', '8080:10.77.99.9:80']));
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain('BOXKIT');
  });

  it("publish refuses the bridge's own address, saying so, dry run or not, changing nothing", async () => {
    for (const dry of [[], ['--dry-run']]) {
      const r = await refused(['publish', ...dry, '8080:10.77.80.1:80']);
      expect(r.stderr).toMatch(new RegExp(`^netsetup: 10\\.77\\.80\\.1 is the address of bridge ${br}, not of a container$`, 'm'));
    }
  });

  it('refuses a target in the host\'s own network namespace (the PID of a host process), creating nothing', async () => {
    for (const dry of [[], ['--dry-run']]) {
      const r = await refused(['veth', ...dry, '--pid', String(process.pid), '--bridge', br]);
      expect(r.stderr).toMatch(new RegExp(`^netsetup: pid ${process.pid} is in the host's own network namespace$`, 'm'));
    }
  });

  it('refuses a bridge whose subnet overlaps another bridge\'s, creating nothing', async () => {
    const b2 = shortName('nsf');
    const st = () => readFileSync(join(state, 'netsetup', 'state.json'), 'utf8');
    const before2 = st();
    for (const cidr of ['10.77.80.129/25', '10.77.80.254/24', '10.77.0.1/16']) {
      const r = await refused(['bridge', b2, cidr], undefined, 1);
      expect(r.stderr).toMatch(new RegExp(`^netsetup: bridge ${b2}: .* overlaps bridge ${br} \\(10\\.77\\.80\\.1/24\\)`));
    }
    expect(st()).toBe(before2);
    // the bridge itself again, and a neighbouring subnet, are fine
    ok(await ns(['bridge', br, '10.77.80.1/24']));
    ok(await ns(['bridge', b2, '10.77.81.1/24']));
    ok(await ns(['bridge', 'rm', b2]));
  });

    it('refuses the network or broadcast address as a container or bridge address, creating nothing', async () => {
    for (const ip of ['10.77.80.0/24', '10.77.80.255/24', '10.77.80.127/25']) {
      const r = await refused(['veth', '--netns', c[0]!, '--bridge', br, '--ip', ip]);
      expect(r.stderr).toMatch(/^netsetup: invalid address \(--ip\) '10\.77\.80\.\d+\/2\d': the (network|broadcast) address of 10\.77\.80\.\d+\/2\d$/m);
    }
    for (const cidr of ['10.77.82.0/24', '10.77.82.255/24']) await refused(['bridge', shortName('nsf'), cidr]);
    // /31 and /32 have no network or broadcast address (RFC 3021); off the bridge's subnet, it says which route it gets
    ok(await ns(['veth', '--netns', c[0]!, '--bridge', br, '--ip', '10.77.80.254/31', '--gateway', 'none']));
    ok(await ns(['down', '--netns', c[0]!]));
  });

  it("a --gateway is never the container's own address: --ip auto skips it, an --ip equal to it (or a gateway that is the subnet's network or broadcast address) is refused", async () => {
    // auto took the gateway's address (10.77.80.2, the first free one): a default route via itself, exit 0
    for (const line of [false, true]) {
      const r = line
        ? await ns(['veth', '-', '--json'], JSON.stringify({ netns: c[0], bridge: br, gateway: '10.77.80.2' }))
        : await ns(['veth', '--netns', c[0]!, '--bridge', br, '--gateway', '10.77.80.2', '--json']);
      ok(r);
      const a = [JSON.parse(r.stdout)].flat()[0];
      expect([a.ip, a.gateway]).toEqual(['10.77.80.3/24', '10.77.80.2']);
      expect(sh('ip', ['-n', c[0]!, '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).toContain('inet 10.77.80.3/24');
      expect(sh('ip', ['-n', c[0]!, 'route', 'show', 'default']).trim()).toBe('default via 10.77.80.2 dev eth0');
      ok(await ns(['down', '--netns', c[0]!]));
    }
    const dry = await ns(['veth', '--netns', c[0]!, '--bridge', br, '--gateway', '10.77.80.2', '--dry-run']);
    ok(dry);
    expect(dry.stdout).toContain('ip addr add 10.77.80.3/24 dev eth0');
    for (const dryRun of [[], ['--dry-run']]) {
      const own = await refused(['veth', ...dryRun, '--netns', c[0]!, '--bridge', br, '--ip', '10.77.80.7/24', '--gateway', '10.77.80.7']);
      expect(own.stderr.split('\n')[0]).toBe("netsetup: gateway 10.77.80.7 is the container's own address (--ip 10.77.80.7/24)");
      for (const gw of ['10.77.80.0', '10.77.80.255']) {
        const r = await refused(['veth', ...dryRun, '--netns', c[0]!, '--bridge', br, '--gateway', gw]);
        expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^netsetup: invalid gateway '${gw.replace(/\./g, '\\.')}/24': the (network|broadcast) address of 10\\.77\\.80\\.0/24$`));
      }
    }
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('veth - --dry-run gives each auto line the address a real run gives it (it printed the first free one for all), and refuses what the real run refuses', async () => {
    const lines = (extra = '') => `${JSON.stringify({ netns: c[0], bridge: br })}\n${JSON.stringify({ netns: c[1], bridge: br })}\n${extra}`;
    const dry = await ns(['veth', '-', '--dry-run'], lines());
    ok(dry);
    expect(dry.stdout.split('\n').filter((l) => l.includes(' addr add '))).toEqual([
      `ip netns exec ${c[0]} ip addr add 10.77.80.2/24 dev eth0`, `ip netns exec ${c[1]} ip addr add 10.77.80.3/24 dev eth0`,
    ]);
    const dryJson = await ns(['veth', '-', '--dry-run', '--json'], lines());
    ok(dryJson);
    expect(JSON.parse(dryJson.stdout).attachments.map((a: { ip: string }) => a.ip)).toEqual(['10.77.80.2/24', '10.77.80.3/24']);
    // an explicit address a line before it takes: the real run refuses it, so does the dry run (it said yes)
    const clash = lines(`${JSON.stringify({ netns: c[2], bridge: br, ip: '10.77.80.3/24' })}\n`);
    const d = await refused(['veth', '-', '--dry-run'], clash);
    const real = await refused(['veth', '-'], clash);
    expect(d.stderr).toMatch(/^netsetup: address 10\.77\.80\.3 is already in use by bk[0-9a-f]{11}\n/);
    expect(d.stderr).toBe(real.stderr);
    const made = await ns(['veth', '-', '--json'], lines());
    ok(made);
    expect(JSON.parse(made.stdout).map((a: { ip: string }) => a.ip)).toEqual(['10.77.80.2/24', '10.77.80.3/24']);
    ok(await ns(['down', '-'], c.join('\n')));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('a single-value flag given twice takes the last, as veth and down do (nat --out-if a --out-if b failed with a Node TypeError, exit 1)', async () => {
    const r = await ns(['nat', '10.77.83.0/24', '--out-if', 'nosuch0', '--out-if', br]);
    ok(r);
    const nat = sh('iptables-save', ['-t', 'nat']);
    expect(nat).toMatch(new RegExp(`-A BOXKIT-NAT-\\w+ ! -d 224\\.0\\.0\\.0/4 -o ${br} .*-j MASQUERADE`));
    expect(nat).not.toContain('nosuch0');
    ok(await ns(['nat', 'rm', '10.77.83.0/24']));
    const route = await ns(['route', 'add', '10.77.84.0/24', 'via', '10.77.80.50', '--dev', 'nosuch0', '--dev', br]);
    ok(route);
    expect(sh('ip', ['route', 'show', '10.77.84.0/24'])).toMatch(new RegExp(`^10\\.77\\.84\\.0/24 via 10\\.77\\.80\\.50 dev ${br}[ \\n]`));
    ok(await ns(['route', 'rm', '10.77.84.0/24', 'via', '10.77.80.50']));
    const pub = await ns(['publish', '9393:10.77.80.9:80', '--host-ip', '10.0.0.1', '--host-ip', '10.77.80.1', '--dry-run']);
    ok(pub);
    expect(pub.stdout).toContain("-d 10.77.80.1/32 -p tcp -m tcp --dport 9393 -m comment --comment 'boxkit publish 10.77.80.1:9393:10.77.80.9:80/tcp'");
    // veth through the yargs CLI (--hairpin=false is not the fast path's): the last --netns and --mtu
    const v = await ns(['veth', '--netns', 'nosuch', '--netns', c[0]!, '--bridge', br, '--mtu', '1300', '--mtu', '1400', '--hairpin=false', '--json']);
    ok(v);
    expect(JSON.parse(v.stdout)).toMatchObject({ netns: c[0], mtu: 1400 });
    expect(sh('ip', ['-n', c[0]!, '-o', 'link', 'show', 'eth0'])).toContain('mtu 1400');
    ok(await ns(['down', '--netns', c[0]!]));
  });

  it('BOXKIT_PHASES=1 accounts for a veth and a down on stderr, phase by phase in order; without it stderr stays empty', async () => {
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: undefined, BOXKIT_PHASES: '1' };
    const up = await bk('netsetup', ['veth', '--netns', c[0]!, '--bridge', br], { env });
    expect(up.exitCode, String(up.stderr)).toBe(0);
    const m = /^phases: entry=([\d.]+) resolved=([\d.]+) leased=([\d.]+) made=([\d.]+) recorded=([\d.]+) done=([\d.]+)$/.exec(String(up.stderr));
    expect(m, String(up.stderr)).not.toBeNull();
    const t = m!.slice(1).map(Number);
    expect(t).toEqual([...t].sort((a, b) => a - b));
    expect(stored(state).attachments).toHaveLength(1);
    const down = await bk('netsetup', ['down', '--netns', c[0]!], { env });
    expect(down.exitCode, String(down.stderr)).toBe(0);
    expect(String(down.stderr)).toMatch(/^phases: entry=[\d.]+ done=[\d.]+$/);
    const quiet = await ns(['veth', '--netns', c[0]!, '--bridge', br]);
    expect([quiet.exitCode, quiet.stderr]).toEqual([0, '']);
    ok(await ns(['down', '--netns', c[0]!]));
    expect(stored(state)).toEqual({ attachments: [], leases: [] });
  });

  it('ls as a user who cannot read iptables lists the rest and says in one line that no rules are listed (it was silent)', async () => {
    const { mkdtempSync, chmodSync, rmSync } = await import('node:fs');
    const dir = mkdtempSync('/tmp/boxkit-ls-user-');
    chmodSync(dir, 0o755);
    try {
      const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: join(dir, 'state') };
      delete env.NODE_EXTRA_CA_CERTS;
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', join(import.meta.dirname, '../../packages/netsetup/bin/netsetup.cjs'), 'ls'], { env, encoding: 'utf8' });
      expect([r.status, r.stdout, r.stderr.trim().split('\n')]).toEqual([0, '', [expect.stringMatching(/^netsetup: warning: cannot read iptables \(iptables-save -t nat: .*Permission denied.*\): no rules listed$/)]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('leaves no links, rules, leases or records', async () => {
    ok(await ns(['bridge', 'rm', br]));
    expectNothingLeft(before, state);
  });
});
