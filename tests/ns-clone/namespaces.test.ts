/**
 * Each namespace kind, asserted by its real effect (issue 3, "Done when").
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipReason, testName } from '../harness/index.js';
import { execa } from 'execa';
import { binPath, compile, ns, tmp } from './helpers.js';

/** Runs argv with pidfd_open (434) failing ENOSYS, as on a kernel before 5.3. */
const NOSYS_PIDFD = `
#define _GNU_SOURCE
#include <stddef.h>
#include <errno.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
int main(int argc, char **argv) {
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 434, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog p = { sizeof f / sizeof f[0], f };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p)) return 126;
  execvp(argv[1], argv + 1);
  return 127;
}
`;

describe.skipIf(skipReason)(`ns-clone namespaces${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('uts: the hostname differs inside and is unchanged on the host', async () => {
    const before = execFileSync('hostname', { encoding: 'utf8' }).trim();
    const r = await ns(['--hostname', 'inside-box', '--', 'hostname']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toBe('inside-box');
    expect(execFileSync('hostname', { encoding: 'utf8' }).trim()).toBe(before);
    // the user's example from the issue
    const u = await ns(['--uts', '--pid', '--ipc', '--', 'sh', '-c', 'echo $$']);
    expect(u.stdout).toBe('1');
  });

  it('uts: a hostname of 64 characters (the kernel\'s limit) is set; 65 is refused before anything starts', async () => {
    const long = `h${'a'.repeat(63)}`;
    const r = await ns(['--hostname', long, '--', 'hostname']);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(r.stdout).toBe(long);
    const tooLong = await ns(['--hostname', `${long}a`, '--', 'hostname']);
    expect(tooLong.exitCode).toBe(125);
    expect(tooLong.stderr.split('\n')[0]).toBe(`ns-clone: invalid hostname '${long}a'`);
  });

  it('ipc: a SysV message queue made on the host is invisible inside', async () => {
    const id = execFileSync('ipcmk', ['-Q'], { encoding: 'utf8' }).match(/(\d+)\s*$/)![1]!;
    try {
      const idAt = (text: string) => text.split('\n').slice(1).map((l) => l.trim().split(/\s+/)[1]);
      expect(idAt(readFileSync('/proc/sysvipc/msg', 'utf8'))).toContain(id);
      const shared = await ns(['--uts', '--', 'cat', '/proc/sysvipc/msg']);
      expect(idAt(shared.stdout)).toContain(id); // control: without --ipc it is visible
      const r = await ns(['--ipc', '--', 'cat', '/proc/sysvipc/msg']);
      expect(r.exitCode).toBe(0);
      expect(idAt(r.stdout)).not.toContain(id);
      expect(r.stdout.trim().split('\n')).toHaveLength(1); // the header only
    } finally {
      execFileSync('ipcrm', ['-q', id]);
    }
  });

  it('pid: CMD is PID 1 and /proc shows only the container\'s processes', async () => {
    const r = await ns(['--pid', '--mount', '--', 'sh', '-c', 'echo $$; for p in /proc/[0-9]*; do echo ${p#/proc/}; done']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['1', '1']);
    const ps = await ns(['--pid', '--mount', '--', 'ps', '-e', '-o', 'pid=,comm=']);
    expect(ps.stdout.trim().split('\n').map((l) => l.trim())).toEqual(['1 ps']);
  });

  it('mount: a mount inside is invisible outside', async () => {
    const dir = tmp('mnt');
    const r = await ns(['--mount', '--', 'sh', '-c', `mount -t tmpfs boxkit-inner ${dir} && touch ${dir}/made-inside && ls ${dir} && grep -c boxkit-inner /proc/self/mountinfo`]);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n')).toEqual(['made-inside', '1']);
    expect(readdirSync(dir)).toEqual([]);
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain('boxkit-inner');
    // --readonly-root without --root: the namespace's copy of / turns read-only, the host's does not
    const ro = await ns(['--mount', '--readonly-root', '--', 'sh', '-c', `touch ${dir}/x 2>/dev/null && echo wrote || echo refused`]);
    expect(ro.stdout).toBe('refused');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('net: only lo', async () => {
    const r = await ns(['--net', '--', 'ip', '-o', 'link', 'show']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout.split('\n').map((l) => l.split(': ')[1])).toEqual(['lo']);
  });

  it('user: uid 0 inside is the outer uid (uid_map and file ownership)', async () => {
    // outside the run's 0700 test root, which uid 100000 could not enter
    const dir = mkdtempSync(join(tmpdir(), `${testName('user')}-`));
    chmodSync(dir, 0o777);
    try {
      const r = await ns(['--map-users', '0:100000:65536', '--map-groups', '0:100000:65536', '--', 'sh', '-c',
        `id -u; id -g; cat /proc/self/uid_map; touch ${dir}/owned; stat -c %u:%g ${dir}/owned`]);
      expect(r.exitCode, r.stderr).toBe(0);
      const [uid, gid, map, owner] = r.stdout.split('\n');
      expect([uid, gid]).toEqual(['0', '0']);
      expect(map!.trim().split(/\s+/)).toEqual(['0', '100000', '65536']);
      expect(owner).toBe('0:0');
      const st = statSync(join(dir, 'owned'));
      expect([st.uid, st.gid]).toEqual([100000, 100000]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('cgroup: /proc/self/cgroup shows / inside', async () => {
    const r = await ns(['--cgroup', '--', 'cat', '/proc/self/cgroup']);
    expect(r.exitCode).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeGreaterThan(0);
    for (const l of lines) expect(l).toMatch(/:\/$/);
    expect(readlinkSync('/proc/self/ns/cgroup')).toBeTruthy();
  });

  it('time: a supervisor that is not PID 1 still runs CMD where pidfd_open is missing (ENOSYS, kernels before 5.3; here by seccomp): the watch of c56e9c4 is skipped, not fatal', async () => {
    const nosys = compile('nosys-pidfd', NOSYS_PIDFD);
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const r = await execa(nosys, [binPath('ns-clone'), '--time', '--', 'sh', '-c', 'readlink /proc/self/ns/time; grep ^Seccomp: /proc/self/status'], { reject: false, env });
    expect(r.exitCode, r.stderr).toBe(0);
    const [time, seccomp] = r.stdout.split('\n');
    expect(time).not.toBe(readlinkSync('/proc/self/ns/time'));
    expect(seccomp).toMatch(/^Seccomp:\s+2$/); // the filter was on
  });

  it('time: CMD runs in a new time namespace; --all makes the six usual ones', async () => {
    const t = await ns(['--time', '--', 'readlink', '/proc/self/ns/time']);
    expect(t.exitCode, t.stderr).toBe(0);
    expect(t.stdout).toMatch(/^time:\[\d+\]$/);
    expect(t.stdout).not.toBe(readlinkSync('/proc/self/ns/time'));
    const all = await ns(['--all', '--', 'sh', '-c', 'for n in mnt uts ipc pid net cgroup user; do echo $n=$(readlink /proc/self/ns/$n); done']);
    expect(all.exitCode, all.stderr).toBe(0);
    for (const line of all.stdout.split('\n')) {
      const [kind, link] = line.split('=');
      if (kind === 'user') expect(link, kind).toBe(readlinkSync('/proc/self/ns/user'));
      else expect(link, kind).not.toBe(readlinkSync(`/proc/self/ns/${kind}`));
    }
  });

  it('persist: --net=PATH keeps the namespace after its process exits', async () => {
    const dir = tmp('persist');
    const file = join(dir, 'netx');
    const r = await ns([`--net=${file}`, '--', 'ip', 'link', 'set', 'lo', 'up']);
    expect(r.exitCode, r.stderr).toBe(0);
    try {
      expect(existsSync(file)).toBe(true);
      // the namespace outlived `ip`: lo is still up in it
      const link = execFileSync('nsenter', [`--net=${file}`, 'ip', '-o', 'link', 'show', 'lo'], { encoding: 'utf8' });
      expect(link).toMatch(/UP/);
    } finally {
      execFileSync('umount', [file]);
    }
    // the same for a UTS namespace, with --persist KIND=PATH
    const uts = join(dir, 'utsx');
    const u = await ns(['--persist', `uts=${uts}`, '--hostname', 'kept', '--', 'true']);
    expect(u.exitCode, u.stderr).toBe(0);
    try {
      expect(execFileSync('nsenter', [`--uts=${uts}`, 'hostname'], { encoding: 'utf8' }).trim()).toBe('kept');
    } finally {
      execFileSync('umount', [uts]);
    }
  });

  it('setenv, env-clear, wd, uid/gid and no-new-privs', async () => {
    const env = await ns(['--uts', '--env-clear', '--setenv', 'A=1', '--setenv', 'B=two words', '--', '/usr/bin/env']);
    expect(env.stdout.split('\n').sort()).toEqual(['A=1', 'B=two words']);
    const wd = await ns(['--uts', '--wd', '/usr/share', '--', 'pwd']);
    expect(wd.stdout).toBe('/usr/share');
    const ids = await ns(['--uts', '--uid', '65534', '--gid', '65534', '--', 'sh', '-c', 'id -u; id -g; id -G']);
    expect(ids.stdout.split('\n')).toEqual(['65534', '65534', '65534']);
    const nnp = await ns(['--uts', '--no-new-privs', '--', 'grep', 'NoNewPrivs', '/proc/self/status']);
    expect(nnp.stdout).toMatch(/NoNewPrivs:\s+1/);
    const without = await ns(['--uts', '--', 'grep', 'NoNewPrivs', '/proc/self/status']);
    expect(without.stdout).toMatch(/NoNewPrivs:\s+0/);
  });

  it('--dry-run prints the plan and changes nothing', async () => {
    const dir = tmp('dry');
    mkdirSync(join(dir, 'bin'));
    const r = await ns(['--dry-run', '--user', '--map-root-user', '--hostname', 'h1', '--net', `--net=${dir}/persisted`, '--', 'true']);
    expect(r.exitCode).toBe(0);
    expect(r.stdout).toContain('# clone(CLONE_NEWUTS|CLONE_NEWUSER|CLONE_NEWNET)');
    expect(r.stdout).toContain("echo '0 0 1' > /proc/$PID/uid_map");
    expect(r.stdout).toContain('hostname h1');
    expect(r.stdout).toMatch(/^exec .*true$/m);
    expect(existsSync(join(dir, 'persisted'))).toBe(false);
    // -v prints the same lines on stderr while it runs
    const v = await ns(['-v', '--hostname', 'traced', '--', 'hostname']);
    expect(v.stdout).toBe('traced');
    expect(v.stderr.split('\n')).toContain('+ hostname traced');
  });
});
