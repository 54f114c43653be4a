/**
 * run --net bridge over netsetup's nat of the bridge's network made by hand with an --out-if
 * (kept as it is, its missing jump made again: it was refused, 125, boxkit's bridge left made).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { natChain } from '@boxkit/netsetup';
import { assertSandboxNetwork, bk, createHost, destroyHost, inV2Vm, links, runId, sh, skipReason } from '../harness/index.js';
import { BASE, run } from './helpers.js';

const tail = runId.slice(-5);

describe.skipIf(skipReason || inV2Vm)(`run: the bridge's NAT and published host addresses${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const bridge = `bkn${tail}`;
  const out = `bko${tail}`; // the host's "uplink": a veth end (no dummy module here) to a stand-in of the outside
  const world = `bk-nat-world-${tail}`;
  const net = '10.199.37.0/24';
  let worldMade = false;
  afterAll(async () => {
    const ns = await import('@boxkit/netsetup');
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

    const r = await run([...args, '--', 'ping', '-c', '1', '-W', '3', '203.0.113.7'], null);
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain('1 packets received');
    const rules = sh('iptables-save', ['-t', 'nat']);
    const mine = rules.split('\n').filter((l) => l.includes(`boxkit nat ${net}`));
    expect(mine.find((l) => l.includes('MASQUERADE'))).toContain(`-o ${out} `);
    expect(mine.filter((l) => l.startsWith('-A POSTROUTING'))).toHaveLength(1);
    expect(mine).toHaveLength(3);
    expect(links()).toContain(bridge);
  });
});
