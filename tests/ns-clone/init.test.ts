/**
 * The init (--init: boxkit-init, PID 1, the supervisor) against the processes
 * of its own container, and children held for their setup.
 */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pin, skipReason, unreaped } from '../harness/index.js';
import { alive, binPath, childrenOf, compile, killAndWait, ns, tmp, until } from './helpers.js';

/** What a process may do to another (default: PID 1): one line per access, "ok" or the error. */
const PROBE = `
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
static const char *res(int ok) { return ok ? "ok" : strerror(errno); }
int main(int argc, char **argv) {
  int pid = argc > 1 ? atoi(argv[1]) : 1;
  char p[64], buf[64];
  printf("self-dumpable=%d\\n", prctl(PR_GET_DUMPABLE, 0, 0, 0, 0));
  snprintf(p, sizeof p, "/proc/%d/environ", pid);
  int fd = open(p, O_RDONLY);
  printf("environ=%s\\n", res(fd >= 0 && read(fd, buf, sizeof buf) >= 0));
  unsigned long addr = 0;
  snprintf(p, sizeof p, "/proc/%d/maps", pid);
  FILE *f = fopen(p, "r");
  printf("maps=%s\\n", res(f != NULL && fscanf(f, "%lx", &addr) == 1));
  snprintf(p, sizeof p, "/proc/%d/mem", pid);
  fd = open(p, O_RDONLY);
  printf("mem=%s\\n", res(fd >= 0 && pread(fd, buf, 8, (off_t)addr) == 8));
  printf("ptrace=%s\\n", res(ptrace(PTRACE_SEIZE, pid, 0, 0) == 0));
  return 0;
}
`;

/** Names itself boxkit-init and drops dumpability, as the real init does, then runs argv as its child. */
const FAKE_INIT = `
#define _GNU_SOURCE
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/wait.h>
int main(int argc, char **argv) {
  prctl(PR_SET_NAME, "boxkit-init", 0, 0, 0);
  prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
  if (fork() == 0) { execvp(argv[1], argv + 1); _exit(127); }
  wait(NULL);
  return 0;
}
`;

const lines = (out: string) => Object.fromEntries(out.split('\n').map((l) => l.split('=') as [string, string]));

describe.skipIf(skipReason)(`ns-clone --init${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('the init is not dumpable from the command\'s first instruction: root in a --user container cannot read its memory or environment, nor ptrace it; the command stays dumpable (30 starts)', async () => {
    // with --user the init is a fork of ns-clone's Node (trampoline.c spawn_forked): its memory holds
    // ns-clone's environment. Root in the container has CAP_SYS_PTRACE in the container's user
    // namespace only; the init's memory belongs to the host's, so only dumpability stood in the way.
    // (Without --user, ns-clone's container root keeps the host's CAP_SYS_PTRACE and can read any process.)
    // 30 starts: set after the fork, the command could run before the init had dropped it
    const probe = compile('probe', PROBE);
    for (let i = 0; i < 30; i++) {
      const r = await ns(['--user', '--map-root-user', '--pid', '--mount', '--init', '--', probe, '1']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(lines(r.stdout), `start ${i}`).toEqual({
        'self-dumpable': '1',
        environ: 'Permission denied',
        maps: 'Permission denied',
        mem: 'Permission denied',
        ptrace: 'Operation not permitted',
      });
    }
  });

  it('rootless: enter PID of an --init container (an init the caller cannot read) joins through its command', async () => {
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/nonexistent', BOXKIT_TEST_RUN_ID: process.env.BOXKIT_TEST_RUN_ID! };
    const asNobody = (args: string[]) => execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', binPath('ns-clone'), ...args], { reject: false, env, cwd: '/' });
    const proc = asNobody(['--user', '--map-root-user', '--pid', '--mount', '--uts', '--hostname', 'held', '--init', '--', 'sleep', '30']);
    try {
      let init = 0;
      await until(() => {
        init = childrenOf(proc.pid!).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'boxkit-init') ?? 0;
        return init > 0 && childrenOf(init).length > 0;
      }, 10_000, 'the init and its command');
      const r = await asNobody(['enter', String(init), '--all', '--', 'sh', '-c', 'hostname; cat /proc/1/comm']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.split('\n')).toEqual(['held', 'boxkit-init']);
    } finally {
      await killAndWait(proc);
      await proc;
    }
  });

  it('rootless: enter PID of a process that only calls itself boxkit-init (not dumpable, not PID 1 of a PID namespace) is refused, not joined through its child', async () => {
    // any process can name itself so: only a real init (PID 1 of a PID namespace below ours) is joined through its command
    const fake = compile('fake-init', FAKE_INIT);
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/nonexistent', BOXKIT_TEST_RUN_ID: process.env.BOXKIT_TEST_RUN_ID! };
    const asNobody = (file: string, args: string[]) => execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', file, ...args], { reject: false, env, cwd: '/' });
    const proc = asNobody(fake, ['sleep', '30']);
    try {
      await until(() => childrenOf(proc.pid!).length > 0 && readFileSync(`/proc/${proc.pid}/comm`, 'utf8').trim() === 'boxkit-init', 10_000, 'the fake init and its child');
      const r = await asNobody(binPath('ns-clone'), ['enter', String(proc.pid), '--net', '--', 'true']);
      expect(r.stderr.split('\n')[0]).toBe(`ns-clone: enter ${proc.pid}: cannot open /proc/${proc.pid}/ns/net: EACCES`);
      expect(r.exitCode).toBe(125);
      // --all too: namespaces that cannot be read are not 'the same as this one' (it said 'nothing to enter', exit 2)
      const all = await asNobody(binPath('ns-clone'), ['enter', String(proc.pid), '--all', '--', 'true']);
      expect(all.stderr.split('\n')[0]).toBe(`ns-clone: enter ${proc.pid}: cannot open /proc/${proc.pid}/ns/user: EACCES`);
      expect(all.exitCode).toBe(125);
    } finally {
      for (const c of (unreaped(proc) ? childrenOf(proc.pid!) : []).map((p) => pin(p))) await killAndWait(c);
      await killAndWait(proc);
      await proc;
    }
  });

  it('rootless --user --time: the supervisor (not PID 1: a copy of ns-clone\'s Node) is not dumpable either: the command cannot read ns-clone\'s environment from it (--env-clear kept it out)', async () => {
    const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/nonexistent', BOXKIT_TEST_RUN_ID: process.env.BOXKIT_TEST_RUN_ID!, SECRET_TOKEN: 'hunter2' };
    const script = 'echo comm=$(cat /proc/$PPID/comm); if tr "\\0" "\\n" < /proc/$PPID/environ > /dev/null 2>&1; then echo environ=read; else echo environ=refused; fi; env | grep -c SECRET_TOKEN';
    const r = await execa('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', binPath('ns-clone'), '--user', '--map-root-user', '--time', '--env-clear', '--', '/bin/sh', '-c', script], { reject: false, env, cwd: '/' });
    expect(r.stdout.split('\n')).toEqual(['comm=node', 'environ=refused', '0']);
  });

  it('--user --wait-for-setup: a SIGTERM before the release stops the held child at once (143), not after --stop-timeout (5 starts)', async () => {
    // the held child is a fork of Node: it ran Node's SIGTERM handler, lived on, and ns-clone waited
    // for the stop timeout and sent SIGKILL (137)
    for (let i = 0; i < 5; i++) {
      const state = join(tmp('held-user'), 'state');
      const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: state };
      delete env.NODE_EXTRA_CA_CERTS;
      const proc = execa(binPath('ns-clone'), ['--user', '--map-root-user', '--wait-for-setup', '--stop-timeout', '20', '--', 'true'], { reject: false, env });
      const dir = join(state, 'ns-clone');
      await until(() => existsSync(dir) && readdirSync(dir).some((f) => f.endsWith('.fifo-path')), 10_000, 'the setup fifo');
      const held = childrenOf(proc.pid!);
      const t0 = Date.now();
      proc.kill('SIGTERM');
      const r = await proc;
      expect(r.exitCode, r.stderr).toBe(143);
      expect(Date.now() - t0).toBeLessThan(15_000); // not the 20 s stop timeout (room for a loaded machine)
      expect(held.filter(alive)).toEqual([]);
      // the state dir this run made goes with them: its command never ran (a failed start's undo)
      expect(existsSync(state)).toBe(false);
    }
  });
});
