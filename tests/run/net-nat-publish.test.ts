/**
 * run --net bridge over netsetup's nat of the bridge's network made by hand with an --out-if
 * (kept as it is, its missing jump made again: it was refused, 125, boxkit's bridge left made),
 * and run -p HOSTIP:... with an address that is not this host's (refused before anything is made).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { natChain } from '@boxkit/netsetup';
import { assertSandboxNetwork, binPath, bk, createHost, destroyHost, inV2Vm, links, runId, sh, skipReason, straceBin } from '../harness/index.js';
import { BASE, containerEnded, name, run } from './helpers.js';

const tail = runId.slice(-5);
const strace = straceBin();

describe.skipIf(skipReason || inV2Vm)(`run: the bridge's NAT and published host addresses${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bridge = `bkn${tail}`;
  const out = `bko${tail}`; // the host's "uplink": a veth end (no dummy module here) to a stand-in of the outside
  const world = `bk-nat-world-${tail}`;
  const net = '10.199.37.0/24';
  let worldMade = false;
  // (a run that refused -p HOSTIP only after it made them, as before, leaves the default bridge and its NAT)
  const hadDefault = links().includes('boxkit0');
  afterAll(async () => {
    const ns = await import('@boxkit/netsetup');
    if (!hadDefault && links().includes('boxkit0')) {
      await ns.removeNat('10.88.0.0/16').catch(() => {});
      await ns.removeBridge('boxkit0').catch(() => {});
    }
    await ns.removeNat(net).catch(() => {});
    await ns.removeBridge(bridge).catch(() => {});
    if (links().includes(out)) sh('ip', ['link', 'del', out]);
    if (worldMade) destroyHost(world);
  });

  it('a nat made by hand with --out-if before run makes the bridge is kept, its missing jump made again; the container goes out through it', async () => {
    assertSandboxNetwork();
    createHost(world);
    worldMade = true;
    sh('ip', ['link', 'add', out, 'type', 'veth', 'peer', 'name', 'up0', 'netns', world]);
    sh('ip', ['addr', 'add', '203.0.113.1/24', 'dev', out]);
    sh('ip', ['link', 'set', out, 'up']);
    sh('ip', ['-n', world, 'addr', 'add', '203.0.113.7/24', 'dev', 'up0']);
    sh('ip', ['-n', world, 'link', 'set', 'up0', 'up']);
    // (the world has no route back to the containers' network: a reply comes only to a masqueraded packet)
    const made = await bk('netsetup', ['nat', net, '--out-if', out]);
    expect(made.exitCode, String(made.stderr)).toBe(0);
    // the POSTROUTING jump lost (by hand): run makes it again, and keeps the --out-if
    sh('iptables', ['-t', 'nat', '-D', 'POSTROUTING', '-s', net, '-m', 'comment', '--comment', `boxkit nat ${net}`, '-j', natChain(net)]);
    expect(sh('iptables-save', ['-t', 'nat'])).not.toContain(`"boxkit nat ${net}"`);

    const args = ['--rm', ...BASE, '--net', `bridge:${bridge}`, '--ip', '10.199.37.2/24'];
    // --dry-run prints a nat line that works
    const dry = await run(['--dry-run', ...args, '--', 'true']);
    const line = dry.out.split('\n').find((l) => l.startsWith('netsetup nat '));
    expect(line).toBe(`netsetup nat ${net} --out-if ${out}`);
    const again = await bk('netsetup', line!.split(' ').slice(1));
    expect(again.exitCode, String(again.stderr)).toBe(0);

    // -v prints the nat line it acted on: with the --out-if kept (it printed the plain line, which netsetup refuses)
    const r = await run(['-v', ...args, '--', 'ping', '-c', '1', '-W', '3', '203.0.113.7'], null);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('1 packets received');
    expect(r.err.split('\n').filter((l) => l.startsWith('+ netsetup nat '))).toEqual([`+ ${line}`]);
    const rules = sh('iptables-save', ['-t', 'nat']);
    const mine = rules.split('\n').filter((l) => l.includes(`boxkit nat ${net}`));
    expect(mine.find((l) => l.includes('MASQUERADE'))).toContain(`-o ${out} `);
    expect(mine.filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(1);
    expect(mine).toHaveLength(3);
    expect(links()).toContain(bridge);
  });

  it('run -v -p PORT prints the host port the container was published on (it printed a port of its own random pick)', async () => {
    assertSandboxNetwork();
    const n = name('vport');
    try {
      const r = await run(['-d', '-v', '--name', n, ...BASE, '--net', `bridge:${bridge}`, '--ip', '10.199.37.3/24', '-p', '80', '-p', '81/udp', '--', 'sleep', '60']);
      const rec = JSON.parse((await run(['inspect', n])).out)[0] as { net: { publish: { hostPort: number; containerPort: number; proto: string }[] } };
      const ports = rec.net.publish.map((p) => `${p.hostPort}:${p.containerPort}/${p.proto}`);
      expect(ports).toHaveLength(2);
      const lines = r.err.split('\n').filter((l) => l.startsWith('+ netsetup publish '));
      expect(lines.map((l) => /^\+ netsetup publish (\d+):"\$IP":(\d+\/\w+)$/.exec(l)?.slice(1).join(':'))).toEqual(ports);
      // and the DNAT rules are those ports'
      const dnat = sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A BOXKIT-DNAT'));
      for (const p of rec.net.publish) expect(dnat.some((l) => l.includes(`--dport ${p.hostPort} `))).toBe(true);
    } finally {
      await run(['rm', '-f', n], null);
    }
  });

  it('run -p HOSTIP:... with an address that is not this host\'s is refused (125) before anything is made, --dry-run too', async () => {
    assertSandboxNetwork();
    // (the rules alone: iptables-save's '# Generated ... on <time>' lines change with the second)
    const natRules = () => sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => !l.startsWith('#'));
    const before = { links: links(), nat: natRules(), state: readdirSync(process.env.BOXKIT_STATE_DIR!).sort() };
    const n = name('badhostip');
    for (const dry of [[], ['--dry-run']]) {
      const r = await run([...dry, '--name', n, ...BASE, '--net', 'bridge', '-p', '198.18.9.9:8080:80', '--', 'true'], null);
      expect(r.code).toBe(125);
      expect(r.out).toBe('');
      const lines = r.err.trim().split('\n');
      expect(lines[0]).toBe('run: --publish 198.18.9.9:8080:80: host address 198.18.9.9 is not an address of this host');
      expect(lines.slice(1).every((l) => l.startsWith('hint: '))).toBe(true);
    }
    // the container was never made: no record, no veth, no bridge, no rule
    expect((await run(['ps', '-a', '--json'])).out).not.toContain(n);
    expect({ links: links(), nat: natRules(), state: readdirSync(process.env.BOXKIT_STATE_DIR!).sort() }).toEqual(before);
    // an address of this host is taken (lo's 127.0.0.0/8)
    const ok = await run(['--dry-run', ...BASE, '--net', 'bridge', '-p', '127.0.0.5:8080:80', '--', 'true']);
    expect(ok.out).toContain('--host-ip 127.0.0.5');
  });

  it.skipIf(!strace)(`run -p HOSTIP:... asks the kernel once per start whether HOSTIP is this host's (it asked twice, three times with -d: its keeper and netsetup's publish again)${strace ? '' : ' (skipped: no strace)'}`, async () => {
    assertSandboxNetwork();
    // each look is one RTM_GETROUTE (`ip route get`, type 26): strace names it, or shows its number
    const looks = (file: string) => readFileSync(file, 'utf8').split('\n').filter((l) => /sendto\(.*nlmsg_type=(RTM_GETROUTE|0x1a)\b/.test(l)).length;
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    for (const detach of [false, true]) {
      const n = name(`onelook${detach ? 'd' : ''}`);
      const file = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', `onelook-${detach}.strace`);
      try {
        const r = await execa(strace!, ['-f', '-qq', '-o', file, '-e', 'trace=sendto', binPath('run'), ...(detach ? ['-d'] : []), '--name', n, ...BASE, '--net', `bridge:${bridge}`, '--ip', '10.199.37.4/24', '-p', '127.0.0.5:8080:80', '--', 'true'], { reject: false, env });
        // (0: published; the container's end gave the port back)
        expect(r.exitCode, String(r.stderr)).toBe(0);
        expect(looks(file)).toBe(1);
      } finally {
        await containerEnded(n);
        await run(['rm', '-f', n], null);
        rmSync(file, { force: true });
      }
    }
    // published on that address, for as long as the container runs
    const n = name('onelookrun');
    try {
      await run(['-d', '--name', n, ...BASE, '--net', `bridge:${bridge}`, '--ip', '10.199.37.4/24', '-p', '127.0.0.5:8080:80', '--', 'sleep', '60']);
      expect(sh('iptables-save', ['-t', 'nat']).split('\n').filter((l) => l.startsWith('-A BOXKIT-DNAT -d 127.0.0.5/32') && l.includes('--dport 8080 '))).toHaveLength(1);
    } finally {
      await run(['rm', '-f', n], null);
    }
  });
});
