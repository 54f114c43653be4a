/**
 * --root: pivot_root into a busybox rootfs, the old root detached, a
 * minimal /dev, /proc of the new PID namespace, read-only root.
 */
import { describe, expect, it, beforeAll } from 'vitest';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { busyboxRootfs, skipReason, testName } from '../harness/index.js';
import { compile, ns, tmp } from './helpers.js';

// The classic escape: chroot into a subdirectory (leaving cwd outside it),
// climb with chdir(".."), chroot("."). It works against chroot(2) and must
// not work after pivot_root with the old root detached.
const ESCAPE = `
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
  mkdir("/escape-dir", 0755);
  if (chroot("/escape-dir") != 0) { perror("chroot"); return 2; }
  for (int i = 0; i < 64; i++) if (chdir("..") != 0) break;
  if (chroot(".") != 0) { perror("chroot ."); return 2; }
  puts(access(argv[1], F_OK) == 0 ? "ESCAPED" : "CONTAINED");
  return 0;
}`;

describe.skipIf(skipReason)(`ns-clone --root${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let rootfs = '';
  let hostMarker = '';
  beforeAll(() => {
    rootfs = busyboxRootfs(join(tmp('rootfs'), 'rootfs'));
    hostMarker = join(tmp('marker'), 'host-only-marker');
    writeFileSync(hostMarker, 'host\n');
    writeFileSync(join(rootfs, 'etc', 'rootfs-marker'), 'rootfs\n');
    copyFileSync(compile('escape', ESCAPE), join(rootfs, 'bin', 'escape'));
  });

  it('/ is the rootfs and the old root is not reachable', async () => {
    const r = await ns(['--root', rootfs, '--pid', '--', '/bin/sh', '-c',
      `cat /etc/rootfs-marker; test -e ${hostMarker} && echo HOST-VISIBLE; echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/self/mountinfo | wc -l`]);
    expect(r.exitCode, r.stderr).toBe(0);
    const [marker, pid, nprocs, nmounts] = r.stdout.split('\n');
    expect(marker).toBe('rootfs');
    expect(r.stdout).not.toContain('HOST-VISIBLE');
    expect(pid).toBe('1');
    expect(Number(nprocs)).toBeLessThanOrEqual(3); // sh, ls, grep
    // only the container's own mounts: /, proc, dev and what is under it
    expect(Number(nmounts)).toBeLessThan(15);
  });

  it('a chroot escape attempt from inside fails', async () => {
    expect(existsSync(hostMarker)).toBe(true);
    const r = await ns(['--root', rootfs, '--pid', '--', '/bin/escape', hostMarker]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe('CONTAINED');
    // control: the same program under plain chroot(8) escapes
    const { execFileSync } = await import('node:child_process');
    expect(execFileSync('chroot', [rootfs, '/bin/escape', hostMarker], { encoding: 'utf8' }).trim()).toBe('ESCAPED');
  });

  it('a minimal /dev works inside', async () => {
    const r = await ns(['--root', rootfs, '--', '/bin/sh', '-c',
      'ls /dev | sort | tr "\\n" " "; echo; head -c 4 /dev/zero | wc -c; echo x > /dev/null && echo null-ok; head -c 8 /dev/urandom | wc -c; test -d /dev/pts && test -d /dev/shm && echo dirs-ok']);
    expect(r.exitCode, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    for (const d of ['null', 'zero', 'full', 'random', 'urandom', 'tty', 'pts', 'shm', 'ptmx', 'fd']) expect(lines[0]!.split(' ')).toContain(d);
    expect(lines.slice(1)).toEqual(['4', 'null-ok', '8', 'dirs-ok']);
  });

  it('--readonly-root makes / read-only but leaves /dev writable', async () => {
    const r = await ns(['--root', rootfs, '--readonly-root', '--', '/bin/sh', '-c', 'touch /x 2>/dev/null && echo wrote || echo refused; touch /dev/shm/y && echo shm-ok']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['refused', 'shm-ok']);
    expect(existsSync(join(rootfs, 'x'))).toBe(false);
  });

  it('--init puts a C init at PID 1 and CMD at PID 2', async () => {
    const r = await ns(['--root', rootfs, '--init', '--', '/bin/sh', '-c', 'echo $$; cat /proc/1/comm; tr "\\0" "\\n" < /proc/1/cmdline | head -1']);
    expect(r.exitCode, r.stderr).toBe(0);
    // its command line too: not the host's node command line with host paths
    expect(r.stdout.split('\n')).toEqual(['2', 'boxkit-init', 'boxkit-init']);
  });

  it('id ranges that leave out the caller (--map-users 0:100000:65536) with --root: /dev is made and CMD runs as root inside', async () => {
    // the namespace's root is host uid 100000: the rootfs must be reachable by it (as with runc)
    const dir = mkdtempSync(join(tmpdir(), `${testName('ranges')}-`));
    try {
      chmodSync(dir, 0o755);
      const ranged = busyboxRootfs(join(dir, 'rootfs'));
      const r = await ns(['--map-users', '0:100000:65536', '--map-groups', '0:100000:65536', '--root', ranged, '--pid', '--', '/bin/sh', '-c',
        'id -u; id -g; test -c /dev/null && echo dev-ok; cat /proc/self/uid_map']);
      expect(r.exitCode, r.stderr).toBe(0);
      const [uid, gid, dev, map] = r.stdout.split('\n');
      expect([uid, gid, dev]).toEqual(['0', '0', 'dev-ok']);
      expect(map!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
