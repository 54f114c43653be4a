/**
 * The article replay: "Docker运行原理" section 5 (implement our own docker,
 * steps 1-4) and section 7 (a Kubernetes Service in iptables), performed
 * with boxkit's commands only, checking each outcome the article shows.
 * Differences on purpose: the network is 10.10.15.0/24 (the article mixes
 * 10.10.14/10.11.0); the Service VIP is 198.18.0.88 instead of 2.2.2.2 (no
 * test may address a real outside address); the image is made by `run
 * rootfs --from-host` instead of cp + ldd by hand.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { assertSandboxNetwork, bk, inHost, pin, poll, signalPinned, skipReason, tcpAsk, testName } from '../harness/index.js';
import { BASE } from './helpers.js';

async function tool(name: string, args: string[], input?: string) {
  const r = await bk(name, args, input !== undefined ? { input } : {});
  if (r.exitCode !== 0) throw new Error(`${name} ${args.join(' ')}: exit ${r.exitCode}\n${r.stderr}`);
  return String(r.stdout);
}
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8' });

describe.skipIf(skipReason)(`the article replayed with boxkit${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  const dir = join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'article');
  const image = join(dir, 'image'), tmp = join(dir, 'tmp'), mnt = join(dir, 'mnt');
  const c2 = testName('article-c2');
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  afterAll(async () => {
    for (const f of cleanup.reverse()) {
      try {
        await f();
      } catch {
        // keep going: the leak check reports what is left
      }
    }
  });

  it('section 5 step 2: the mydocker bridge, ns1 and the veth pair', async () => {
    assertSandboxNetwork();
    await tool('netsetup', ['bridge', 'mydocker', '10.10.15.1/24']);
    cleanup.push(() => tool('netsetup', ['bridge', 'rm', 'mydocker']));
    await tool('netsetup', ['netns', 'add', 'ns1']);
    cleanup.push(() => tool('netsetup', ['netns', 'rm', 'ns1']));
    const veth = JSON.parse(await tool('netsetup', ['veth', '--netns', 'ns1', '--bridge', 'mydocker', '--ip', '10.10.15.2/24', '--json']));
    cleanup.push(() => tool('netsetup', ['down', '--netns', 'ns1']));
    // the article's `ip ad` on the host: mydocker UP with its address, machine1 enslaved to it
    expect(sh('ip', ['-o', '-4', 'addr', 'show', 'mydocker'])).toContain('inet 10.10.15.1/24');
    expect(sh('ip', ['-o', 'link', 'show', veth.hostIfname])).toMatch(/master mydocker .*state UP/);
    // and in ns1: lo up, eth0 up with 10.10.15.2
    const inside = inHost('ns1', 'ip', ['-o', 'addr']);
    expect(inside).toMatch(/lo\s+inet 127\.0\.0\.1\/8/);
    expect(inside).toMatch(/eth0\s+inet 10\.10\.15\.2\/24/);
  });

  it('section 5 step 3: the image (bash + busybox with their libraries) and the image + tmp union', async () => {
    const out = JSON.parse(await tool('run', ['rootfs', image, '--from-host', '/bin/bash', '/bin/busybox', '--json']));
    expect(out.files.some((f: string) => f.endsWith('/libc.so.6'))).toBe(true);
    expect(existsSync(join(image, 'bin', 'bash')) && existsSync(join(image, 'bin', 'busybox'))).toBe(true);
    mkdirSync(tmp, { recursive: true });
    mkdirSync(mnt, { recursive: true });
    // the article's `mount -t aufs -o br=./tmp:./image -o udba=none none ./mnt`
    await tool('unionfs', ['mount', '-o', `br=${tmp}=rw:${image}=ro,udba=none`, 'none', mnt]);
    cleanup.push(() => tool('unionfs', ['umount', mnt]));
    expect(readdirSync(mnt)).toEqual(expect.arrayContaining(['bin', 'lib', 'lib64', 'proc', 'etc']));
    writeFileSync(join(mnt, 'written-in-mnt'), 'x');
    expect(existsSync(join(tmp, 'written-in-mnt'))).toBe(true);
    expect(existsSync(join(image, 'written-in-mnt'))).toBe(false);
  });

  it('section 5 step 4: NAT and forwarding, then the container in ns1 with its own hostname, PID 1 and /proc', async () => {
    await tool('netsetup', ['nat', '10.10.0.0/16']);
    cleanup.push(() => tool('netsetup', ['nat', 'rm', '10.10.0.0/16']));
    expect(readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe('1');
    const nat = sh('iptables-save', ['-t', 'nat']);
    // the article's two POSTROUTING rules, kept in a chain of their own that `-s 10.10.0.0/16` jumps to
    const chain = /-A POSTROUTING -s 10\.10\.0\.0\/16 .*-j (BOXKIT-NAT-\w+)/.exec(nat)?.[1];
    expect(chain).toBeDefined();
    expect(nat).toMatch(new RegExp(`-A ${chain} -d 10\\.10\\.0\\.0/16 .*-j RETURN`));
    expect(nat).toMatch(new RegExp(`-A ${chain} ! -d 224\\.0\\.0\\.0/4 .*-j MASQUERADE`));
    // the article's `ip netns exec ns1 chroot ./mnt /bin/mybash` + `mount -t proc`
    const script = 'busybox hostname; echo $$; busybox ls /proc | busybox grep -c "^[0-9]"; busybox ip route; busybox ping -c 1 -W 2 10.10.15.1 >/dev/null && echo gateway-ok';
    const out = await tool('ns-clone', ['--netns', 'ns1', '--pid', '--mount', '--uts', '--ipc', '--hostname', 'testmachine', '--root', mnt, '--', '/bin/bash', '-c', script]);
    const lines = out.trim().split('\n');
    expect(lines[0]).toBe('testmachine');
    expect(lines[1]).toBe('1');
    expect(Number(lines[2])).toBeLessThanOrEqual(3); // bash, ls, grep: its own /proc
    expect(out).toContain('default via 10.10.15.1 dev eth0');
    expect(out).toContain('gateway-ok');
  });

  it('a second container on mydocker; both serve; section 7: a Service spreads connections over both', async () => {
    // endpoint 1: in ns1, from the union, detached
    const e1 = JSON.parse(await tool('ns-clone', ['--netns', 'ns1', '--pid', '--mount', '--uts', '--ipc', '--hostname', 'testmachine', '--root', mnt,
      '--detach', '--json', '--', '/bin/busybox', 'nc', '-ll', '-p', '12345', '-e', '/bin/busybox', 'echo', 'c1']));
    const e1Pinned = pin(e1.pid); // (at cleanup it may have ended, and its pid be another's)
    cleanup.push(() => signalPinned(e1Pinned));
    // endpoint 2: a `run` container on the same bridge
    await tool('run', ['-d', '--name', c2, ...BASE, '--rootfs', image, '--net', 'bridge:mydocker', '--ip', '10.10.15.3/24', '--',
      '/bin/busybox', 'nc', '-ll', '-p', '12345', '-e', '/bin/busybox', 'echo', 'c2']);
    cleanup.push(() => tool('run', ['rm', '-f', c2]));
    // the two nc listen a moment after they were started
    expect(await poll(() => tcpAsk('ns1', '10.10.15.3', 12345), (a) => !a.startsWith('ERROR'))).toBe('c2');
    expect(await poll(() => tcpAsk(undefined, '10.10.15.2', 12345), (a) => !a.startsWith('ERROR'))).toBe('c1');
    const ping = await tool('run', ['exec', c2, '--', '/bin/busybox', 'ping', '-c', '1', '-W', '2', '10.10.15.2']);
    expect(ping).toContain('1 packets received');

    await tool('svcproxy', ['add', 'test-service1', '--vip', '198.18.0.88:88', '--endpoint', '10.10.15.2:12345', '--endpoint', '10.10.15.3:12345', '--nodeport', '30001']);
    cleanup.push(() => tool('svcproxy', ['flush']));
    // a locally generated packet is routed before OUTPUT's DNAT: the VIP needs a route
    await tool('netsetup', ['route', 'add', '198.18.0.88/32', 'via', '10.10.15.2']);
    cleanup.push(() => tool('netsetup', ['route', 'rm', '198.18.0.88/32', 'via', '10.10.15.2']));
    const seen: Record<string, number> = {};
    for (let i = 0; i < 30; i++) {
      const r = tcpAsk(undefined, '198.18.0.88', 88);
      seen[r] = (seen[r] ?? 0) + 1;
    }
    expect(Object.keys(seen).sort()).toEqual(['c1', 'c2']);
    expect(seen.c1).toBeGreaterThan(3);
    expect(seen.c2).toBeGreaterThan(3);
  });
});
