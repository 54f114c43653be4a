/**
 * Root filesystems and containers that try to reach the host: what `run`
 * does on the host's side (writing /etc/hostname and /etc/hosts, reading
 * /etc/passwd) must stay inside the rootfs, and a container's root must not
 * open the host's devices (runc's default device rules).
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DEVICE_PROGRAM_NAME, devicePrograms, getxattr } from '@boxkit/native';
import { busyboxRootfs, skipReason } from '../harness/index.js';
import { BASE, name, run } from './helpers.js';

/** A writable copy of the test busybox rootfs. */
function copyRootfs(what: string): string {
  const dir = join(process.env.BOXKIT_TEST_ROOT!, `hostile-${what}`);
  rmSync(dir, { recursive: true, force: true });
  execFileSync('cp', ['-a', busyboxRootfs(), dir]);
  return dir;
}

describe.skipIf(skipReason)(`run: hostile root filesystems${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("symlinks in the rootfs to host paths: run's writes of /etc/hosts and /etc/hostname stay in the container", async () => {
    const root = process.env.BOXKIT_TEST_ROOT!;
    const victim = join(root, 'victim-hosts');
    writeFileSync(victim, 'host data\n');
    const victimDir = join(root, 'victim-etc');
    mkdirSync(victimDir, { recursive: true });
    writeFileSync(join(victimDir, 'hostname'), 'host name\n');

    // /etc/hosts an absolute symlink to a host file
    const a = copyRootfs('hosts-link');
    symlinkSync(victim, join(a, 'etc', 'hosts'));
    const ra = await run(['--rm', ...BASE, '--hostname', 'inside', '--rootfs', a, '--', 'sh', '-c', 'cat /etc/hostname; grep -c inside /etc/hosts']);
    expect(readFileSync(victim, 'utf8')).toBe('host data\n');
    expect(ra.out.split('\n')).toEqual(['inside', '1']);

    // /etc itself an absolute symlink to a host directory
    const b = copyRootfs('etc-link');
    renameSync(join(b, 'etc'), join(b, 'etc.real'));
    symlinkSync(victimDir, join(b, 'etc'));
    await run(['--rm', ...BASE, '--rootfs', b, '--', 'true']);
    expect(readFileSync(join(victimDir, 'hostname'), 'utf8')).toBe('host name\n');
    expect(() => readFileSync(join(victimDir, 'hosts'))).toThrow(/ENOENT/);

    // a relative symlink that climbs out: resolved inside the rootfs, as the container would see it
    const c = copyRootfs('climb');
    symlinkSync(`../../../../../../../../..${victim}`, join(c, 'etc', 'hostname'));
    const rc = await run(['--rm', ...BASE, '--hostname', 'inside', '--rootfs', c, '--', 'cat', '/etc/hostname']);
    expect(readFileSync(victim, 'utf8')).toBe('host data\n');
    expect(rc.out).toBe('inside');
  });

  it('a rootfs whose /proc, /dev or /sys is a symlink is refused (the mount would land where it points, and the container had none), nothing left', async () => {
    const host = join(process.env.BOXKIT_TEST_ROOT!, 'victim-mnt');
    mkdirSync(host, { recursive: true });
    for (const d of ['proc', 'dev', 'sys']) {
      const r = copyRootfs(`${d}-link`);
      rmSync(join(r, d), { recursive: true, force: true });
      symlinkSync(host, join(r, d));
      const before = readFileSync('/proc/self/mountinfo', 'utf8');
      const res = await run(['--rm', ...BASE, '--rootfs', r, '--', 'true'], 125);
      expect(res.err.split('\n')[0]).toBe(`run: root filesystem: /${d} is a symlink (to ${host}): the container would get no /${d}`);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).toBe(before);
      expect((await run(['ps', '-a', '-q'])).out).toBe('');
    }
  });

  it("--user is resolved in the container's /etc/passwd, never the host's through a symlink", async () => {
    const root = process.env.BOXKIT_TEST_ROOT!;
    const hostPasswd = join(root, 'host-passwd');
    writeFileSync(hostPasswd, 'hostonly:x:4242:4242::/home/hostonly:/bin/sh\n');
    const d = copyRootfs('passwd-link');
    unlinkSync(join(d, 'etc', 'passwd'));
    symlinkSync(hostPasswd, join(d, 'etc', 'passwd'));
    // inside the container /etc/passwd points at a file that is not there: no such user
    const r = await run(['--rm', ...BASE, '--rootfs', d, '-u', 'hostonly', '--', 'id', '-u'], 125);
    expect(r.err).toMatch(/^run: --user: no user 'hostonly'/);
  });

  it("a container's root cannot open host devices it makes with mknod (runc's default device rules); --privileged can", async () => {
    const n = name('devices');
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    try {
      const rec = JSON.parse((await run(['inspect', n])).out)[0];
      const dir = rec.cgroup.paths.devices as string | undefined;
      expect(dir).toBeTruthy();
      // v1: the kernel lists the rules; v2: an eBPF program does, and boxkit records them beside the group
      const v1 = existsSync(join(dir!, 'devices.list'));
      const list = v1 ? readFileSync(join(dir!, 'devices.list'), 'utf8').split('\n') : getxattr(dir!, 'trusted.boxkit.devices')!.toString().split('\n');
      expect(list).not.toContain(v1 ? 'a *:* rwm' : 'allow');
      expect(list).toEqual(expect.arrayContaining(['c 1:3 rwm', 'c 1:9 rwm', 'c 136:* rwm', 'c *:* m', 'b *:* m']));
      if (!v1) expect(devicePrograms(dir!)).toEqual([DEVICE_PROGRAM_NAME]);
    } finally {
      await run(['rm', '-f', n]);
    }
    // a host device this (root) process can open and docker's rules deny
    const dev = ['/dev/loop-control', '/dev/kvm', '/dev/tty0', '/dev/loop0', '/dev/vcs', '/dev/vda'].find((p) => {
      try {
        closeSync(openSync(p, 'r'));
        return true;
      } catch {
        return false;
      }
    });
    if (!dev) return;
    const st = statSync(dev);
    const node = `${st.isBlockDevice() ? 'b' : 'c'} ${(st.rdev >> 8) & 0xfff} ${(st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00)}`;
    // any node may be made (c *:* m, b *:* m); opening it is what the rules deny
    const probe = `mknod /tmp/d ${node} && echo made; ( exec 3</tmp/d ) 2>/dev/null && echo opened || echo denied`;
    expect((await run(['--rm', ...BASE, '--', 'sh', '-c', probe])).out).toBe('made\ndenied');
    expect((await run(['--rm', ...BASE, '--privileged', '--', 'sh', '-c', probe])).out).toBe('made\nopened');
  });
});

describe.skipIf(skipReason)(`run: the caller's keys${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("a container has a session keyring of its own (as runc): a key only its possessors may see, in the caller's session keyring, is out of its reach", async () => {
    const { koffi } = await import('@boxkit/native');
    const libc = koffi().load('libc.so.6');
    const syscall = libc.func('long syscall(long nr, ...)');
    const [ADD_KEY, KEYCTL] = process.arch === 'arm64' ? [217, 219] : [248, 250];
    const SESSION = -3, SETPERM = 5, REVOKE = 3, POSSESSOR_ALL = 0x3f000000;
    const desc = `boxkit-test-${process.pid}`;
    const payload = Buffer.from('secret');
    const key = Number(syscall(ADD_KEY, 'str', 'user', 'str', desc, 'void *', payload, 'size_t', payload.length, 'int', SESSION));
    expect(key, 'add_key').toBeGreaterThan(0);
    try {
      expect(Number(syscall(KEYCTL, 'int', SETPERM, 'int', key, 'uint32_t', POSSESSOR_ALL))).toBe(0);
      // a child that keeps the caller's session keyring possesses the key and lists it (the check can fail)
      expect(execFileSync('cat', ['/proc/keys'], { encoding: 'utf8' })).toContain(desc);
      // /proc/keys is masked in a container: --privileged shows it, and the keyring step is not one of the privileges
      const r = await run(['--rm', ...BASE, '--privileged', '--', 'cat', '/proc/keys']);
      expect(r.out).toMatch(/keyring/);
      expect(r.out).not.toContain(desc);
      // and so does a command run exec starts in a container
      const n = name('keys');
      await run(['-d', '--name', n, ...BASE, '--privileged', '--', 'sleep', '600']);
      try {
        const e = await run(['exec', n, '--', 'cat', '/proc/keys']);
        expect(e.out).toMatch(/keyring/);
        expect(e.out).not.toContain(desc);
      } finally {
        await run(['rm', '-f', n]);
      }
    } finally {
      syscall(KEYCTL, 'int', REVOKE, 'int', key);
    }
  });
});
