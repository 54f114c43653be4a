import { describe, expect, it } from 'vitest';
import { availableParallelism } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveUser } from '../src/container/user.js';
import { parseCidr, parseEnv, parseNet, parsePublish, parseSize } from '../src/container/spec.js';
import { toSpec, type RunArgs } from '../src/commands/run.js';

const base: RunArgs = {
  dryRun: false, json: false, verbose: false, net: 'none', workdir: '/', readOnly: false, cgroupParent: 'boxkit',
  detach: false, rm: false, interactive: false, tty: false, init: false, privileged: false, stopTimeout: 10, '--': ['sh'],
};

describe('run: flags to a container spec', () => {
  it('parses sizes, cpus, ports, networks and env like docker', () => {
    expect(parseSize('32M')).toBe(32 * 1024 * 1024);
    expect(parseSize('1g')).toBe(1024 ** 3);
    expect(parseSize('512k')).toBe(512 * 1024);
    expect(() => parseSize('lots')).toThrow(/invalid memory limit 'lots'/);
    // as cg: 0 would be taken literally by the kernel, not as docker's "no limit"
    expect(() => parseSize('0')).toThrow(/^invalid memory limit '0': the kernel takes 0 literally/);
    expect(() => parseSize('100')).toThrow(/below one page/);
    expect(parseSize('max')).toBe('max');
    expect(parseSize('-1')).toBe('max');
    expect(parsePublish('8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp' });
    expect(parsePublish('53:53/udp')).toEqual({ hostPort: 53, containerPort: 53, proto: 'udp' });
    expect(() => parsePublish('70000:80')).toThrow(/invalid port/);
    // docker's -p PORT: any free host port (0 until the run picks one), not the host's own PORT
    expect(parsePublish('80')).toEqual({ hostPort: 0, containerPort: 80, proto: 'tcp' });
    // docker's IP:HOSTPORT:PORT and IP::PORT; 0.0.0.0 is every address
    expect(parsePublish('127.0.0.1:8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp', hostIp: '127.0.0.1' });
    expect(parsePublish('127.0.0.1::53/udp')).toEqual({ hostPort: 0, containerPort: 53, proto: 'udp', hostIp: '127.0.0.1' });
    expect(parsePublish('0.0.0.0:8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp' });
    // one address is written one way (two spellings made two DNAT rules for one port, the second never matching)
    expect(parsePublish('127.0.0.01:8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp', hostIp: '127.0.0.1' });
    expect(parsePublish('000.0.0.0:8080:80')).toEqual({ hostPort: 8080, containerPort: 80, proto: 'tcp' });
    for (const bad of [':80', '300.1.1.1:80:80', '127.0.0.1:80', 'a:80', '8080:80/sctp']) expect(() => parsePublish(bad), bad).toThrow(/invalid/);
    expect(parseNet('bridge')).toEqual({ mode: 'bridge', bridge: 'boxkit0' });
    expect(parseNet('bridge:mydocker')).toEqual({ mode: 'bridge', bridge: 'mydocker' });
    expect(() => parseNet('bridge:a-name-longer-than-15')).toThrow();
    expect(parseEnv(['A=1', 'B=x=y'])).toEqual({ A: '1', B: 'x=y' });
    expect(parseCidr('10.10.15.2/24')).toEqual({ addr: '10.10.15.2', prefix: 24 });
    expect(() => parseCidr('10.10.15.300/24')).toThrow();
  });

  it('rejects bad combinations before anything changes (exit 2)', () => {
    expect(() => toSpec({ ...base, '--': [] })).toThrow(/no command/);
    expect(() => toSpec({ ...base, ip: 'auto' })).toThrow(/--ip needs --net bridge/);
    expect(() => toSpec({ ...base, publish: ['80:80'] })).toThrow(/--publish needs --net bridge/);
    expect(() => toSpec({ ...base, cpus: 1, cpuQuota: 50000 })).toThrow(/--cpus and --cpu-quota cannot be used together/);
    expect(() => toSpec({ ...base, rootfs: '/a', image: '/b' })).toThrow(/alternatives/);
    expect(() => toSpec({ ...base, workdir: 'rel' })).toThrow(/absolute/);
    expect(() => toSpec({ ...base, hostname: 'bad host' })).toThrow(/invalid hostname/);
    // docker's bounds: no more CPUs than this process may use, at least 6M of memory
    const cores = availableParallelism();
    expect(() => toSpec({ ...base, cpus: cores + 1 })).toThrow(new RegExp(`--cpus ${cores + 1}: only ${cores} CPU`));
    expect(toSpec({ ...base, cpus: cores }).limits.cpuQuota).toBe(cores * 100000);
    expect(() => toSpec({ ...base, memory: '100k' })).toThrow(/--memory 100k: below the minimum of 6M/);
    expect(toSpec({ ...base, memory: '6M' }).limits.memory).toBe(6 * 1024 * 1024);
    expect(toSpec({ ...base, memory: 'max' }).limits.memory).toBe('max');
    try {
      toSpec({ ...base, '--': [] });
    } catch (e) {
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
  });

  it('maps --cpus/--memory/--pids to cgroup limits', () => {
    const s = toSpec({ ...base, net: 'bridge', ip: 'auto', cpus: 0.5, memory: '32M', pids: 20, '--': ['true'] });
    expect(s.limits).toEqual({ cpuQuota: 50000, cpuPeriod: 100000, memory: 33554432, pids: 20 });
    expect(s.net).toEqual({ mode: 'bridge', bridge: 'boxkit0' });
    expect(s.command).toEqual(['true']);
  });
});

describe('run: the fast argument parser', async () => {
  const { fastParse } = await import('../src/options.js');
  it('parses the common case like yargs would, and the command starts at -- or the first word', () => {
    const a = fastParse(['--rm', '-it', '-p', '8080:80', '-e', 'A=1', '--net=bridge', '--cpus', '0.5', '--', 'sh', '-c', 'x'])!;
    expect(a.rm && a.interactive && a.tty).toBe(true);
    expect(a.publish).toEqual(['8080:80']);
    expect(a.env).toEqual(['A=1']);
    expect(a.net).toBe('bridge');
    expect(a.cpus).toBe(0.5);
    expect(a['--']).toEqual(['sh', '-c', 'x']);
    expect(a.cgroupParent).toBe('boxkit');
    expect(fastParse(['-d', 'sleep', '-x'])!['--']).toEqual(['sleep', '-x']);
  });
  it('declines what it is unsure of (yargs then decides)', () => {
    expect(fastParse(['--help'])).toBeUndefined();
    expect(fastParse(['--bogus', '--', 'true'])).toBeUndefined();
    expect(fastParse(['--cpus', 'half', '--', 'true'])).toBeUndefined();
    expect(fastParse(['--name'])).toBeUndefined();
  });
});

describe('run --user', () => {
  it("a uid the image's passwd does not name gets group 0, as docker (not a group of the same number); a named one its own", () => {
    const root = mkdtempSync(join(tmpdir(), 'bk-user-'));
    try {
      mkdirSync(join(root, 'etc'));
      writeFileSync(join(root, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\nweb:x:33:44::/srv:/bin/sh\n');
      writeFileSync(join(root, 'etc', 'group'), 'root:x:0:\nwww:x:44:\nstaff:x:50:web\n');
      expect(resolveUser(root, '1000')).toEqual({ uid: 1000, gid: 0, groups: [], home: '/' });
      expect(resolveUser(root, '1000:50')).toMatchObject({ uid: 1000, gid: 50 });
      expect(resolveUser(root, 'web')).toEqual({ uid: 33, gid: 44, groups: [50], home: '/srv' });
      expect(resolveUser(root, '33')).toMatchObject({ uid: 33, gid: 44 });
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
