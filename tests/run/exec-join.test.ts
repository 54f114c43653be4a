/**
 * `run exec` joins a running container from outside: the trampoline's
 * stage moves into the container's cgroup and namespaces, drops
 * capabilities, then forks the process that execs the command into the
 * container's PID namespace. Between that fork and the exec, the process
 * is visible in the container and still holds what it brought from the
 * host (memory with the program and environment, open descriptors). runc
 * keeps its init non-dumpable (PR_SET_DUMPABLE 0) until the exec, so the
 * container's root cannot ptrace it or read /proc/PID/mem, environ or fd.
 *
 * The window is microseconds, so the test holds it open: the real exec
 * program (execProgram) with one extra step just before the exec, a wait
 * on a fifo in the container. The container then probes the held process
 * through the kernel's ptrace access check (opening /proc/PID/mem asks
 * for PTRACE_MODE_ATTACH, as ptrace(2) itself does; environ and the fd links ask
 * for PTRACE_MODE_READ). busybox has no ptrace tool, so attach itself is not run.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { binPath, busyboxRootfs, skipReason } from '../harness/index.js';
import { spawn } from '../../native/src/index.js';
import { execProgram } from '../../packages/run/src/container/exec.js';
import { load } from '../../packages/run/src/state/store.js';
import { BASE, name, onTerminal, run } from './helpers.js';

const made: string[] = [];

/** The classic chroot escape: chroot into a subdirectory, climb with ".." from the cwd left outside it, chroot there. */
const ESCAPE_C = `#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
  (void)argc;
  mkdir("/esc-d", 0700);
  if (chroot("/esc-d") < 0) { perror("chroot"); return 2; }
  for (int i = 0; i < 256; i++) if (chdir("..") < 0) break;
  if (chroot(".") < 0) { perror("chroot ."); return 2; }
  puts(access(argv[1], F_OK) == 0 ? "escaped" : "contained");
  return 0;
}
`;

/** What the container's root can do with /proc/PID of another process: one word per probe. */
const PROBE = (pid: number) =>
  [
    `(cat /proc/${pid}/environ >/dev/null) 2>/dev/null && echo environ:open || echo environ:denied`,
    `(exec 3</proc/${pid}/mem) 2>/dev/null && echo mem:open || echo mem:denied`,
    // the names in fd/ are listed for the directory's owner (root); following one is the ptrace check
    `readlink /proc/${pid}/fd/0 >/dev/null 2>&1 && echo fd:open || echo fd:denied`,
  ].join('; ');

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The host pid of the only child of `pid` (the stage's forked process), once it exists. */
async function onlyChild(pid: number): Promise<number> {
  for (let i = 0; i < 250; i++) {
    const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    if (kids) return Number(kids.split(' ')[0]);
    await sleep(20);
  }
  throw new Error(`no child of ${pid} appeared`);
}

/** A host pid as the container's PID namespace numbers it (the last NSpid field). */
function pidInContainer(hostPid: number): number {
  const line = readFileSync(`/proc/${hostPid}/status`, 'utf8').split('\n').find((l) => l.startsWith('NSpid:'))!;
  return Number(line.split(/\s+/).at(-1));
}

describe.skipIf(skipReason)(`run exec: joining a container${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    for (const n of made) await run(['rm', '-f', n], null);
  });

  it("the half-joined process is not dumpable: the container's root cannot read its memory, environment or descriptors; the exec'd command is dumpable again", async () => {
    const n = name('join');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'mkfifo /tmp/hold && exec sleep 600']);
    const rec = load(n)!;
    await run(['exec', n, '--', 'sh', '-c', 'while [ ! -p /tmp/hold ]; do sleep 0.05; done']);

    // the real program, held on the fifo just before its exec
    const steps = execProgram(rec.pid!, ['sleep', '600'], { env: { PATH: '/bin:/usr/bin', SECRET: 'host-only' }, workdir: '/', privileged: false, detach: false }, rec.cgroup);
    const at = steps.findIndex((s) => s.op === 'EXEC');
    steps.splice(at, 0, { op: 'WAIT_FIFO', strs: ['/tmp/hold'] });
    const child = spawn({ flags: 0, steps, pdeathsig: 9 });
    child.release();
    try {
      const held = await onlyChild(child.pid);
      const inside = pidInContainer(held);
      expect(inside).toBeGreaterThan(1); // in the container's PID namespace, visible there

      const before = await run(['exec', n, '--', 'sh', '-c', PROBE(inside)]);
      expect(before.out.split('\n')).toEqual(['environ:denied', 'mem:denied', 'fd:denied']);

      // released, it execs sleep as usual: an ordinary, dumpable process of the container again
      await run(['exec', n, '--', 'sh', '-c', 'echo go > /tmp/hold']);
      await child.confirmExecAsync();
      expect(readFileSync(`/proc/${held}/cmdline`, 'utf8').split('\0')[0]).toBe('sleep');
      const after = await run(['exec', n, '--', 'sh', '-c', `${PROBE(inside)}; tr '\\0' '\\n' < /proc/${inside}/environ | grep SECRET`]);
      expect(after.out.split('\n')).toEqual(['environ:open', 'mem:open', 'fd:open', 'SECRET=host-only']);
    } finally {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone
      }
      await child.wait();
    }
  });

  it("a PID 1 that chrooted itself inside its rootfs does not move exec's root (as docker exec)", async () => {
    const n = name('pid1-chroot');
    made.push(n);
    const jail = 'mkdir -p /tmp/j/bin && cp /bin/busybox /tmp/j/bin/ && exec chroot /tmp/j /bin/busybox sleep 600';
    await run(['-d', '--name', n, '--hostname', 'in-the-box', ...BASE, '--', 'sh', '-c', jail]);
    const pid = load(n)!.pid!;
    // PID 1 is `sh -c '...'` until its exec of the chrooted busybox
    for (let i = 0; i < 400 && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/busybox\0'); i++) await sleep(25);
    expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toEqual(['/bin/busybox', 'sleep', '600', '']);
    expect((await run(['exec', n, '--', 'cat', '/etc/hostname'])).out).toBe('in-the-box');
  });

  it("exec -t never takes another container's pty: a PID 1 whose chroot's /dev leads to /proc/OTHER/root/dev gets a host pty, the other container sees no new one", async () => {
    const [a, b] = [name('pty-a'), name('pty-b')];
    made.push(a, b);
    await run(['-d', '--name', b, ...BASE, '--', 'sleep', '600']);
    const bPid = load(b)!.pid!;
    // A's PID 1 chroots into a directory whose dev is a symlink the host side follows from the host's root
    const jail = `mkdir -p /x/bin && cp /bin/busybox /x/bin/ && ln -s /proc/${bPid}/root/dev /x/dev && exec chroot /x /bin/busybox sleep 600`;
    await run(['-d', '--name', a, ...BASE, '--', 'sh', '-c', jail]);
    const aPid = load(a)!.pid!;
    for (let i = 0; i < 400 && !readFileSync(`/proc/${aPid}/cmdline`, 'utf8').startsWith('/bin/busybox\0'); i++) await sleep(25);
    const ptys = async () => (await run(['exec', b, 'ls', '/dev/pts'])).out.split('\n').sort();
    expect(await ptys()).toEqual(['ptmx']);
    const held = onTerminal(`${process.execPath} ${binPath('run')} exec -it ${a} sh -c 'echo in-a; sleep 2; echo a-done'`);
    await sleep(1000);
    // (B's devpts gained a 0 while A's exec ran, and B could write into the user's session through it)
    expect(await ptys()).toEqual(['ptmx']);
    expect(await held).toMatch(/in-a\r*\na-done/);
  });

  it("from a runtime that runs chrooted (a build chroot): its containers cannot climb out with chroot and '..', and exec lands in the container's root, also when PID 1 chrooted further", async () => {
    // a mount namespace whose root mount is not where `run` runs: a bind of / in it, chrooted into
    const jail = join(process.env.BOXKIT_TEST_ROOT!, name('jail'));
    mkdirSync(jail);
    const holder = execa('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', 'mount --rbind / "$0" && echo ready && exec sleep 600', jail], { reject: false });
    await Promise.race([
      new Promise<void>((resolve) => holder.stdout!.once('data', () => resolve())),
      holder.then((r) => Promise.reject(new Error(`unshare and mount --rbind failed: ${r.stderr}`))),
    ]);
    const env = { ...process.env, NODE_EXTRA_CA_CERTS: undefined };
    // -r: the holder's root (in the VM that is itself a chroot), then the jail in it
    const chrooted = (args: string[]) => execa('nsenter', ['-t', String(holder.pid), '-m', '-r', 'chroot', jail, binPath('run'), ...args], { reject: false, env });
    const n = name('chrooted');
    const probe = ['exec', n, '--', 'sh', '-c', 'cat /etc/hostname; test -e /proc/self/status && echo proc'];
    try {
      const started = await chrooted(['-d', '--name', n, '--hostname', 'in-the-box', ...BASE, '--', 'sleep', '600']);
      expect(started.exitCode, started.stderr).toBe(0);
      const e = await chrooted(probe);
      expect(e.exitCode, e.stderr).toBe(0);
      expect(e.stdout.split('\n')).toEqual(['in-the-box', 'proc']);
      // from this (unchrooted) namespace too, where the union is not mounted: found from PID 1's root
      expect((await run(probe)).out.split('\n')).toEqual(['in-the-box', 'proc']);

      // its root cannot climb out of the container with chroot and "..": the old tree went with pivot_root
      const esc = join(process.env.BOXKIT_TEST_ROOT!, name('esc-rootfs'));
      execFileSync('cp', ['-a', busyboxRootfs(), esc]);
      writeFileSync(`${esc}.c`, ESCAPE_C);
      execFileSync('cc', ['-static', '-o', join(esc, 'esc'), `${esc}.c`]);
      const marker = join(process.env.BOXKIT_TEST_ROOT!, name('host-only'));
      writeFileSync(marker, 'host\n');
      const out = await chrooted(['--rm', '--rootfs', esc, ...BASE, '--', '/esc', marker]);
      expect(out.exitCode, out.stderr).toBe(0);
      expect(out.stdout).toBe('contained');

      // and with a PID 1 that chrooted itself further: the top of the rootfs above its root
      const m = name('chrooted-pid1');
      const jailed = 'mkdir -p /tmp/j/bin && cp /bin/busybox /tmp/j/bin/ && exec chroot /tmp/j /bin/busybox sleep 600';
      const s2 = await chrooted(['-d', '--name', m, '--hostname', 'in-the-box', ...BASE, '--', 'sh', '-c', jailed]);
      expect(s2.exitCode, s2.stderr).toBe(0);
      try {
        const pid = load(m)!.pid!;
        // PID 1 is `sh -c '...'` until its exec of the chrooted busybox
    for (let i = 0; i < 400 && !readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/bin/busybox\0'); i++) await sleep(25);
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('/bin/busybox');
        for (const via of [chrooted, (a: string[]) => run(a).then((r) => ({ exitCode: r.code, stdout: r.out, stderr: r.err }))]) {
          const r = await via(['exec', m, '--', 'cat', '/etc/hostname']);
          expect(r.exitCode, r.stderr).toBe(0);
          expect(r.stdout).toBe('in-the-box');
        }
      } finally {
        const rm2 = await chrooted(['rm', '-f', m]);
        if (rm2.exitCode !== 0) throw new Error(`run rm -f ${m}: ${rm2.stderr}`);
      }
    } finally {
      const rm = await chrooted(['rm', '-f', n]);
      holder.kill('SIGKILL');
      await holder;
      // after the test's own assertions, so a failure above is the one reported
      if (rm.exitCode !== 0) throw new Error(`run rm -f ${n}: ${rm.stderr}`);
    }
  });
});
