import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { assertSandboxNetwork, binPath, inV2Vm, poll, skipReason, tcpAsk } from '../harness/index.js';
import { BASE, name, run } from './helpers.js';

// the cgroup v2 VM has no bridge or veth modules: the limits are tested there on their own
const LIMITS = ['--cpus', '0.5', '--memory', '32M', '--pids', '20'];
const NET = [...(inV2Vm ? [] : ['--net', 'bridge', '--ip', 'auto']), ...LIMITS];

describe.skipIf(skipReason)(`run: bridge network and limits${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const made: string[] = [];
  afterAll(async () => {
    if (made.length) await run(['rm', '-f', ...made], null);
    // the default bridge and its NAT outlive containers (like docker0): the test removes them
    if (inV2Vm) return;
    const ns = await import('@boxkit/netsetup');
    await ns.removeNat('10.88.0.0/16').catch(() => {});
    await ns.removeBridge('boxkit0').catch(() => {});
  });

  it.skipIf(inV2Vm)('two containers on the bridge ping their gateway and each other', async () => {
    assertSandboxNetwork();
    const [a, b] = [name('ping-a'), name('ping-b')];
    made.push(a, b);
    await run(['-d', '--name', a, ...BASE, ...NET, '--', 'sleep', '600']);
    await run(['-d', '--name', b, ...BASE, ...NET, '--', 'sleep', '600']);
    const ps = JSON.parse((await run(['ps', '--json'])).out) as { name: string; ip: string }[];
    const ipA = ps.find((p) => p.name === a)!.ip.split('/')[0]!;
    const ipB = ps.find((p) => p.name === b)!.ip.split('/')[0]!;
    expect(ipA).not.toBe(ipB);
    expect(ipA).toMatch(/^10\.88\./);
    const gw = await run(['exec', a, '--', 'ping', '-c', '1', '-W', '2', '10.88.0.1']);
    expect(gw.out).toContain('1 packets received');
    const peer = await run(['exec', a, '--', 'ping', '-c', '1', '-W', '2', ipB]);
    expect(peer.out).toContain('1 packets received');
    const route = await run(['exec', b, '--', 'ip', 'route']);
    expect(route.out).toContain('default via 10.88.0.1');
  });

  it('--cpus 0.5 holds a busy loop to about half a core', async () => {
    const r = await run(['--rm', ...BASE, ...NET, '--', 'sh', '-c', 'time timeout 3 sh -c "while :; do :; done"'], null);
    // busybox time: "real 0m 3.00s / user 0m 1.49s / sys 0m 0.00s" on stderr
    const sec = (k: string) => {
      const m = new RegExp(`${k}\\s+(\\d+)m\\s*([\\d.]+)s`).exec(r.err)!;
      return Number(m[1]) * 60 + Number(m[2]);
    };
    const share = (sec('user') + sec('sys')) / sec('real');
    // the quota is the cap (the upper bound); under load (load 15 on 2 cores: 0.24 measured) the loop gets less than its
    // quota, so the lower bound only says the loop ran at a sane rate (a quota 10 times too small would fail it)
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.65);
  });

  it('--memory 32M: a 100M allocation is OOM-killed (137)', async () => {
    const r = await run(['--rm', ...BASE, ...NET, '--', 'awk', 'BEGIN{s=sprintf("%100000000s","x"); print length(s)}'], null);
    expect(r.code).toBe(137);
  });

  it("the container reads its own limits at /sys/fs/cgroup, as with runc: read-only, its group as the root, no other group in sight", async () => {
    const script = [
      // cgroup v2 alone: cgroup2 on all of it; v1 (and hybrid): a directory per hierarchy
      'if [ -f /sys/fs/cgroup/pids.max ]; then d=/sys/fs/cgroup; m=$d/memory.max; p=$d/pids.max; else d=/sys/fs/cgroup/pids; m=/sys/fs/cgroup/memory/memory.limit_in_bytes; p=$d/pids.max; fi',
      'cat $p $m',
      'mkdir $d/x 2>/dev/null && echo rw || echo ro',
      'find $d -mindepth 1 -type d | wc -l',
    ].join('; ');
    const r = await run(['--rm', ...BASE, '--memory', '32M', '--pids', '20', '--', 'sh', '-c', script]);
    expect(r.out.split('\n').map((l) => l.trim())).toEqual(['20', '33554432', 'ro', '0']);
  });

  it('--pids 20: a fork bomb stops at 20 processes', async () => {
    // busybox sh exits at its first failed fork, so awk's system() makes the
    // forks and counts the ones that worked: each leaves one sleep behind.
    // 20 = awk (PID 1) + the short-lived sh of system() + 18 sleeps.
    const prog = 'BEGIN{for(i=0;i<60;i++) if (system("sleep 30 &")==0) n++; print n}';
    const r = await run(['--rm', ...BASE, ...NET, '--', 'awk', prog], null);
    expect(r.err).toContain("can't fork");
    const n = Number(r.out.trim());
    expect(n).toBeLessThanOrEqual(19);
    expect(n).toBeGreaterThanOrEqual(15);
  });
});

const noPorts = skipReason ?? (inV2Vm ? 'no network in the v2 VM' : undefined);
describe.skipIf(noPorts)(`run -p: published ports${noPorts ? ` (skipped: ${noPorts})` : ''}`, () => {
  afterAll(async () => {
    const ns = await import('@boxkit/netsetup');
    await ns.removeNat('10.88.0.0/16').catch(() => {});
    await ns.removeBridge('boxkit0').catch(() => {});
  });

  it('a host port reaches the container; rm takes the rule away', async () => {
    assertSandboxNetwork();
    const n = name('pub');
    await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '-p', '18080:12345', '--', 'nc', '-ll', '-p', '12345', '-e', 'echo', 'published']);
    // nc listens a moment after run -d returned
    expect(await poll(() => tcpAsk(undefined, '10.88.0.1', 18080), (a) => !a.startsWith('ERROR'))).toBe('published');
    expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).toMatch(/--dport 18080 .*DNAT/);
    await run(['rm', '-f', n]);
    expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).not.toMatch(/--dport 18080/);
  });

  it('one host port given twice (-p 8080:80 -p 8080:81) is refused before anything is made', async () => {
    assertSandboxNetwork();
    // a bridge run would make (a CIDR on a missing bridge): the old refusal came after it, and after the first publish
    const br = `bkdup${process.pid % 10000}`;
    const n = name('dup-port');
    try {
      const r = await run(['--rm', '--name', n, ...BASE, '--net', `bridge:${br}`, '--ip', '10.77.0.2/24', '-p', '18083:80', '-p', '18083:81', '--', 'true'], 125);
      expect(r.err).toMatch(/^run: --publish 18083:81: host port 18083\/tcp is published twice\nhint: /);
      expect(execFileSync('ip', ['-o', 'link'], { encoding: 'utf8' })).not.toContain(br);
      expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).not.toMatch(/--dport 18083|10\.77\.0\.0/);
    } finally {
      const ns = await import('@boxkit/netsetup');
      await ns.removeNat('10.77.0.0/24').catch(() => {});
      await ns.removeBridge(br).catch(() => {});
    }
    // the same port for tcp and udp is two ports; on two host addresses too (as docker and netsetup take it),
    // and the same mapping twice is one; a port on every address and on one of them is the same port twice
    await run(['--rm', ...BASE, '--net', 'bridge', '-p', '18083:80', '-p', '18083:80/udp', '--', 'true']);
    await run(['--rm', ...BASE, '--net', 'bridge', '-p', '127.0.0.1:18084:80', '-p', '10.88.0.1:18084:81', '-p', '18085:80', '-p', '18085:80', '--', 'true']);
    const any = await run(['--rm', ...BASE, '--net', 'bridge', '-p', '127.0.0.1:18086:80', '-p', '18086:81', '--', 'true'], 125);
    expect(any.err).toMatch(/^run: --publish 18086:81: host port 18086\/tcp is published twice\n/);
  });

  it("an --ip off the bridge's subnet is refused with a hint run can follow (netsetup's named a --gateway run has not)", async () => {
    assertSandboxNetwork();
    const r = await run(['--rm', ...BASE, '--net', 'bridge', '--ip', '10.99.0.5', '--', 'true'], 125);
    expect(r.err).toMatch(/^run: address 10\.99\.0\.5\/16 is not on bridge boxkit0's subnet/);
    expect(r.err).not.toContain('--gateway');
    expect(r.err).toContain('--net bridge:NAME --ip CIDR');
    // refused before boxkit0 is made (it was made, with its NAT, then the attach refused), and by --dry-run
    // too (it printed a pipeline whose `netsetup veth` then failed): in a netns of its own where boxkit0 is missing
    const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'offnet-'));
    const env = { ...process.env, BOXKIT_STATE_DIR: join(own, 'state'), BOXKIT_DATA_DIR: join(own, 'data') };
    for (const dry of [[], ['--dry-run']]) {
      const inner = spawnSync('unshare', ['--net', '--', 'sh', '-c', '"$@"; echo "exit $?"; ip -o link show', 'sh', process.execPath, binPath('run'), ...dry, '--rm', ...BASE, '--net', 'bridge', '--ip', '10.99.0.5/24', '--', 'true'], { env, encoding: 'utf8' });
      expect(inner.stderr.split('\n')[0]).toBe("run: address 10.99.0.5/24 is not on bridge boxkit0's subnet (10.88.0.1/16): it would get no default route");
      expect(inner.stdout).toMatch(/^exit 125\n1: lo: [^\n]*\n$/);
    }
    // as the hint says: a bridge of its own, made with the address's subnet
    const br = `bkoff${process.pid % 10000}`;
    try {
      const ok = await run(['--rm', ...BASE, '--net', `bridge:${br}`, '--ip', '10.99.0.5/24', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
      expect(ok.out).toContain('inet 10.99.0.5/24');
    } finally {
      const ns = await import('@boxkit/netsetup');
      await ns.removeNat('10.99.0.0/24').catch(() => {});
      await ns.removeBridge(br).catch(() => {});
    }
  });

  it("an --ip that is its subnet's network or broadcast address, or the bridge's own, is refused before anything is made, by --dry-run too (boxkit0 and its NAT were made, then netsetup refused it)", () => {
    assertSandboxNetwork();
    // in a netns of its own where boxkit0 is missing, with a state and data dir of its own
    const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'notahost-'));
    const env = { ...process.env, BOXKIT_STATE_DIR: join(own, 'state'), BOXKIT_DATA_DIR: join(own, 'data') };
    const cases = [
      ['10.88.0.0/16', "run: invalid address (--ip) '10.88.0.0/16': the network address of 10.88.0.0/16"],
      ['10.88.255.255/16', "run: invalid address (--ip) '10.88.255.255/16': the broadcast address of 10.88.0.0/16"],
      ['10.88.0.1/16', "run: address 10.88.0.1/16 is bridge boxkit0's own address"],
      ['10.88.0.1', "run: address 10.88.0.1/16 is bridge boxkit0's own address"],
    ];
    for (const [ip, said] of cases) {
      for (const dry of [[], ['--dry-run']]) {
        const inner = spawnSync('unshare', ['--net', '--', 'sh', '-c', '"$@"; echo "exit $?"; ip -o link show', 'sh', process.execPath, binPath('run'), ...dry, '--rm', ...BASE, '--net', 'bridge', '--ip', ip!, '--', 'true'], { env, encoding: 'utf8' });
        expect(inner.stderr.split('\n')[0], `${ip} ${dry}`).toBe(said);
        expect(inner.stdout, `${ip} ${dry}`).toMatch(/^exit 125\n1: lo: [^\n]*\n$/);
        // nothing made first: no record, no data dir
        expect(existsSync(join(own, 'data', 'containers')) ? readdirSync(join(own, 'data', 'containers')) : [], ip).toEqual([]);
        expect(existsSync(join(own, 'state', 'run', 'containers')) ? readdirSync(join(own, 'state', 'run', 'containers')) : [], ip).toEqual([]);
      }
    }
  });

  it('a host port a host process listens on is refused (as docker: port already allocated), before anything is made', async () => {
    assertSandboxNetwork();
    const { createServer } = await import('node:net');
    const { createSocket } = await import('node:dgram');
    const server = createServer((s) => s.end('host\n'));
    await new Promise<void>((r) => server.listen(18081, '127.0.0.1', r));
    const udp = createSocket('udp6');
    await new Promise<void>((r) => udp.bind(18082, '::', r));
    const names: string[] = [];
    try {
      for (const p of ['18081:80', '18082:53/udp']) {
        const n = name(`taken-${p.split(':')[0]}`);
        names.push(n);
        const r = await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '-p', p, '--', 'sleep', '600'], 125);
        expect(r.err).toMatch(new RegExp(`^run: host port ${p.split(':')[0]}/(tcp|udp) is in use on this host`));
        expect((await run(['ps', '-a', '-q'])).out).not.toContain(n);
      }
      expect(execFileSync('iptables-save', ['-t', 'nat'], { encoding: 'utf8' })).not.toMatch(/--dport 1808[12]/);
      // the host service still answers (asked from this process: the server is in its event loop)
      const { connect } = await import('node:net');
      const answer = await new Promise<string>((r) => {
        let d = '';
        const c = connect(18081, '127.0.0.1');
        c.on('data', (x) => (d += x)).on('end', () => r(d.trim())).on('error', (e) => r(`ERROR ${e.message}`));
      });
      expect(answer).toBe('host');
    } finally {
      await run(['rm', '-f', ...names], null);
      server.close();
      udp.close();
    }
  });
});
