/**
 * run on a kernel without close_range(2) (before 5.9), or without its
 * CLOSE_RANGE_CLOEXEC flag (before 5.11: Debian 11's 5.10): every start
 * failed there, at the step that marks the container's inherited fds
 * close-on-exec. A seccomp filter (inherited across exec) makes this
 * kernel answer close_range as an old one does, ENOSYS, for run and all
 * it starts: the trampoline then walks /proc/self/fd instead.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';
import { binPath, skipReason } from '../harness/index.js';
import { BASE } from './helpers.js';

const NO_CLOSE_RANGE_C = `#include <errno.h>
#include <stddef.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
int main(int argc, char **argv) {
  (void)argc;
  struct sock_filter f[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_close_range, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog p = { sizeof f / sizeof f[0], f };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &p)) return 126;
  /* --probe: what close_range answers now */
  if (argv[1][0] == '-') return syscall(SYS_close_range, 100, 100, 0) < 0 && errno == ENOSYS ? 0 : 1;
  execvp(argv[1], argv + 1);
  return 127;
}
`;

describe.skipIf(skipReason)(`run without close_range (a kernel before 5.9/5.11)${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  let dir = '';
  let wrapper = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bk-oldkernel-'));
    wrapper = join(dir, 'no-close-range');
    writeFileSync(`${wrapper}.c`, NO_CLOSE_RANGE_C);
    execFileSync('cc', ['-o', wrapper, `${wrapper}.c`]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const oldKernel = (args: string[]) => {
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    return execa(wrapper, [binPath('run'), ...args], { reject: false, env, extendEnv: false });
  };

  it('the wrapper does make close_range fail as an old kernel does (ENOSYS)', async () => {
    expect((await execa(wrapper, ['--probe'], { reject: false })).exitCode).toBe(0);
  });

  it('a container starts, and holds no fd of run beyond its stdio; with --init the init holds none either', async () => {
    const r = await oldKernel(['--rm', ...BASE, '--', 'sh', '-c', 'ls /proc/self/fd | tr "\\n" " "']);
    expect(r.exitCode, r.stderr).toBe(0);
    // (3 is ls's own directory)
    expect(r.stdout.trim()).toBe('0 1 2 3');
    const init = await oldKernel(['--rm', '--init', ...BASE, '--', 'sh', '-c', 'ls /proc/1/fd | tr "\\n" " "']);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stdout.trim()).toBe('0 1 2');
  });
});
