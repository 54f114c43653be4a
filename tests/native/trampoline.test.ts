import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { spawn, CAP, CLONE, execStep, pidfdOpen, shellStatus, StepError, type Step } from '@boxkit/native';
import { execa } from 'execa';
import { skipReason } from '../harness/index.js';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync } from 'node:fs';
import { join } from 'node:path';

const ALL = CLONE.NEWUSER | CLONE.NEWPID | CLONE.NEWNS | CLONE.NEWUTS | CLONE.NEWIPC | CLONE.NEWNET;

/** Run `argv` through the trampoline with maps written by the parent; collect stdout through a file. */
async function runIn(flags: number, argv: string[], extra: Step[] = [], mapRoot = true) {
  const out = join(mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'tramp-')), 'out');
  writeFileSync(out, '');
  const steps: Step[] = [
    { op: 'WAIT_SYNC' },
    ...(flags & CLONE.NEWUSER ? [{ op: 'SETRESGID', ints: [0] }, { op: 'SETRESUID', ints: [0] }] as Step[] : []),
    ...extra,
    { op: 'RESET_SIGNALS' },
    { op: 'STDIO_FIX' },
    execStep(['/bin/sh', '-c', `exec >${out} 2>&1; ${argv.join(' ')}`], { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }),
  ];
  const child = spawn({ flags, steps });
  if (flags & CLONE.NEWUSER && mapRoot) {
    writeFileSync(`/proc/${child.pid}/uid_map`, '0 0 1\n');
    writeFileSync(`/proc/${child.pid}/setgroups`, 'deny');
    writeFileSync(`/proc/${child.pid}/gid_map`, '0 0 1\n');
  }
  child.release();
  child.confirmExec();
  const status = await child.wait();
  return { status, out: readFileSync(out, 'utf8'), pid: child.pid };
}

/** Spawn, release and confirm a program whose step fails: the StepError and the child's status. */
async function failingStep(flags: number, steps: Step[]) {
  const child = spawn({ flags, steps });
  child.release();
  let err: unknown;
  try {
    child.confirmExec();
  } catch (e) {
    err = e;
  }
  return { err, status: await child.wait() };
}

describe.skipIf(skipReason)(`trampoline (root${skipReason ? `: skipped, ${skipReason}` : ''})`, () => {
  it('clones into new user, pid, mount, uts, ipc and net namespaces', async () => {
    const { status, out } = await runIn(ALL, [
      'echo uid=$(id -u) pid=$$;',
      'echo host=$(hostname);',
      'ip -o link show | cut -d: -f2 | tr -d " ";',
      'for n in user pid mnt uts ipc net; do echo $n=$(readlink /proc/self/ns/$n); done',
    ], [{ op: 'SETHOSTNAME', strs: ['tramp-test'] }, { op: 'MOUNT', ints: [0x4000 | (1 << 18)], strs: ['', '/', '', ''] }]);
    expect(status).toEqual({ code: 0 });
    expect(out).toMatch(/^uid=0 pid=1$/m);
    expect(out).toMatch(/^host=tramp-test$/m);
    expect(out).toMatch(/^lo$/m);
    expect(out.match(/^\w+$/gm)?.filter((l) => l !== 'lo')).toEqual([]); // no interface but lo
    for (const ns of ['user', 'pid', 'mnt', 'uts', 'ipc', 'net']) {
      const mine = readlinkSync(`/proc/self/ns/${ns}`);
      const theirs = out.match(new RegExp(`^${ns}=(.*)$`, 'm'))?.[1];
      expect(theirs, ns).toBeTruthy();
      expect(theirs, ns).not.toBe(mine);
    }
    expect(execFileSync('hostname', { encoding: 'utf8' }).trim()).not.toBe('tramp-test');
  });

  it('also makes cgroup and time namespaces', async () => {
    const { status, out } = await runIn(CLONE.NEWCGROUP | CLONE.NEWPID, ['cat /proc/self/cgroup | head -1; readlink /proc/self/ns/cgroup'],
      [{ op: 'UNSHARE', ints: [CLONE.NEWTIME] }, { op: 'SUPERVISE', ints: [0] }]);
    expect(status).toEqual({ code: 0 });
    expect(out).toMatch(/:\/$/m);
    expect(out).not.toContain(readlinkSync('/proc/self/ns/cgroup'));
  });

  it('reports a missing executable as ENOENT at the exec step', async () => {
    const { err, status } = await failingStep(CLONE.NEWPID, [{ op: 'WAIT_SYNC' }, execStep(['/no/such/program'], {})]);
    expect(err).toBeInstanceOf(StepError);
    expect(err).toMatchObject({ code: 'ENOENT', stepName: 'exec', step: 1, object: '/no/such/program' });
    expect(status).toEqual({ code: 125 });
  });

  it('passes exit codes and deaths by signal back exactly', async () => {
    expect((await runIn(CLONE.NEWPID, ['exit 42'])).status).toEqual({ code: 42 });
    const killed = await runIn(0, ['kill -KILL $$']);
    expect(killed.status).toEqual({ signal: 9 });
    expect(shellStatus(killed.status)).toBe(137);
  });

  it('a child the parent abandons before release never runs its command', async () => {
    const marker = join(mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'tramp-')), 'ran');
    const child = spawn({ flags: CLONE.NEWPID, steps: [{ op: 'WAIT_SYNC' }, execStep(['/bin/touch', marker], {})] });
    child.abort();
    child.confirmExec();
    expect(await child.wait()).toEqual({ code: 125 });
    expect(() => readFileSync(marker)).toThrow();
  });

  it('forks and switches ids without glibc locks another Node thread may hold (no hang under malloc pressure)', async () => {
    // a worker thread allocating all the time: glibc's fork() or set*id() in
    // the clone child would sooner or later wait forever on a lock it held
    const { Worker } = await import('node:worker_threads');
    const worker = new Worker('const a=[];for(;;){a.push(Buffer.allocUnsafeSlow(4096 + (a.length % 64) * 1024));if(a.length>256)a.length=0}', { eval: true });
    try {
      // without a user namespace the steps run in the stage program; with one, in a fork-style copy of this process
      for (let i = 0; i < 200; i++) {
        const flags = i % 2 ? CLONE.NEWPID : CLONE.NEWUSER | CLONE.NEWPID;
        const child = spawn({
          flags,
          steps: [{ op: 'WAIT_SYNC' }, { op: 'SUPERVISE', ints: [1] }, { op: 'SETGROUPS' }, { op: 'SETRESGID', ints: [65534] }, { op: 'SETRESUID', ints: [65534] }, execStep(['/bin/true'], {})],
        });
        if (flags & CLONE.NEWUSER) {
          writeFileSync(`/proc/${child.pid}/uid_map`, '0 0 65536\n');
          writeFileSync(`/proc/${child.pid}/gid_map`, '0 0 65536\n');
        }
        child.release();
        const status = await Promise.race([child.wait(), new Promise((r) => setTimeout(() => r('hung'), 5000))]);
        if (status === 'hung') process.kill(child.pid, 'SIGKILL');
        expect(status, `iteration ${i}`).toEqual({ code: 0 });
        child.close();
      }
    } finally {
      await worker.terminate();
    }
  });

  it('a child without a user namespace is the small stage program, not a copy of Node; the fds its program names reach it', async () => {
    // held at WAIT_SYNC: what the kernel shows of the child before it runs anything
    const dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'tramp-'));
    const file = join(dir, 'named');
    writeFileSync(file, 'through the stage\n');
    const fd = openSync(file, 'r'); // close-on-exec, as Node opens everything
    const out = join(dir, 'out');
    const steps: Step[] = [
      { op: 'WAIT_SYNC' },
      { op: 'DUP2', ints: [fd, 0] },
      execStep(['/bin/sh', '-c', `cat >${out}; ls /proc/self/fd >>${out}`], { PATH: '/usr/bin:/bin' }),
    ];
    const staged = spawn({ flags: CLONE.NEWUTS, steps });
    const forked = spawn({ flags: CLONE.NEWUSER, steps: [{ op: 'WAIT_SYNC' }, execStep(['/bin/true'], {})] });
    try {
      expect(readlinkSync(`/proc/${staged.pid}/exe`)).toMatch(/\/bk-stage$/);
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${staged.pid}/status`, 'utf8'))?.[1]);
      const mineKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))?.[1]);
      expect(rssKb).toBeLessThan(4096);
      expect(mineKb).toBeGreaterThan(4 * rssKb);
      // with a user namespace the child must run its steps itself (an exec before the uid map drops every capability)
      expect(readlinkSync(`/proc/${forked.pid}/exe`)).toBe(readlinkSync('/proc/self/exe'));
    } finally {
      closeSync(fd);
      staged.release();
      forked.abort();
    }
    staged.confirmExec();
    expect(await staged.wait()).toEqual({ code: 0 });
    expect(await forked.wait()).toEqual({ code: 125 });
    // the named fd became stdin; the stage's own descriptors were closed at the command's exec
    const lines = readFileSync(out, 'utf8').split('\n').filter(Boolean);
    expect(lines[0]).toBe('through the stage');
    expect(lines).toEqual(expect.arrayContaining(['0', '1', '2']));
    expect(lines).not.toContain(String(fd));
  });

  it('an init (SUPERVISE) in the stage keeps no program mapping and no descriptor but 0-2', async () => {
    const child = spawn({ flags: CLONE.NEWPID, steps: [{ op: 'WAIT_SYNC' }, { op: 'SUPERVISE', ints: [1] }, execStep(['/bin/sleep', '5'], {})] });
    child.release();
    child.confirmExec();
    try {
      expect(readFileSync(`/proc/${child.pid}/comm`, 'utf8').trim()).toBe('boxkit-init');
      expect(readFileSync(`/proc/${child.pid}/maps`, 'utf8')).not.toMatch(/boxkit-program/);
      expect(readdirSync(`/proc/${child.pid}/fd`).map(Number).filter((fd) => fd > 2)).toEqual([]);
      const dirtyKb = Number(/Private_Dirty:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/smaps_rollup`, 'utf8'))?.[1]);
      expect(dirtyKb).toBeLessThan(1024); // tini: ~1 MB
    } finally {
      process.kill(child.pid, 'SIGKILL');
    }
    expect(await child.wait()).toEqual({ signal: 9 });
  });

  it("an init with the command's capabilities and uid (run's order: CAPS, then SUPERVISE) is not dumpable: the command cannot ptrace it or read its memory", async () => {
    // without CAP_SYS_PTRACE, as run's default set; the same uid and capabilities as the init,
    // so only the init's dumpability stood between the command and PID 1's memory
    const dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'tramp-probe-'));
    writeFileSync(join(dir, 'probe.c'), [
      '#include <stdio.h>', '#include <fcntl.h>', '#include <unistd.h>', '#include <sys/prctl.h>', '#include <sys/ptrace.h>',
      'int main(void) {',
      '  unsigned long a = 0; char b[8]; FILE *f = fopen("/proc/1/maps", "r"); if (f) fscanf(f, "%lx", &a);',
      '  int fd = open("/proc/1/mem", O_RDONLY);',
      '  printf("dumpable=%d mem=%s ptrace=%s\\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0),',
      '    fd >= 0 && pread(fd, b, 8, (off_t)a) == 8 ? "read" : "refused", ptrace(PTRACE_SEIZE, 1, 0, 0) == 0 ? "attached" : "refused");',
      '  return 0;',
      '}',
    ].join('\n'));
    execFileSync('cc', ['-static', '-O1', '-o', join(dir, 'probe'), join(dir, 'probe.c')]);
    const noPtrace = (1n << 41n) - 1n - (1n << BigInt(CAP.SYS_PTRACE!));
    const { status, out } = await runIn(CLONE.NEWPID | CLONE.NEWNS, [join(dir, 'probe')], [
      { op: 'MOUNT', ints: [0x4000 | (1 << 18)], strs: ['', '/', '', ''] },
      { op: 'MOUNT', ints: [0], strs: ['proc', '/proc', 'proc', ''] },
      { op: 'CAPS', ints: [noPtrace] },
      { op: 'SUPERVISE', ints: [1] },
    ]);
    expect(status).toEqual({ code: 0 });
    expect(out.trim()).toBe('dumpable=1 mem=refused ptrace=refused');
  });

  it('ALIVE passes while the process a pidfd names lives and fails with ESRCH once it has ended (its PID may name another by then)', async () => {
    const sleeper = execa('sleep', ['30']);
    const pidfd = pidfdOpen(sleeper.pid!);
    try {
      expect((await runIn(0, ['echo joined'], [{ op: 'ALIVE', ints: [pidfd] }])).out.trim()).toBe('joined');
      sleeper.kill('SIGKILL');
      await sleeper.catch(() => undefined);
      const { err, status } = await failingStep(0, [{ op: 'WAIT_SYNC' }, { op: 'ALIVE', ints: [pidfd] }, execStep(['/bin/true'], {})]);
      expect(err).toMatchObject({ code: 'ESRCH', stepName: 'alive' });
      expect(status).toEqual({ code: 125 });
    } finally {
      closeSync(pidfd);
    }
  });
});
