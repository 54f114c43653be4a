/** Shared bits of the ns-clone integration tests. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa, type Options } from 'execa';
import type { ChildProcess } from 'node:child_process';
import { bk, binPath, isPinned, signalPinned, straceBin, unreaped, type Pinned } from '../harness/index.js';

/** Run the built ns-clone; stdout/stderr as strings (final newline stripped). */
export async function ns(args: string[], opts: Options = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await bk('ns-clone', args, opts);
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
export { binPath, straceBin };

/** A fresh directory under the run's test root. */
export function tmp(what: string): string {
  return mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', `ns-clone-${what}-`));
}

/** Compile a small C program (static, so it runs inside a busybox rootfs too). */
export function compile(name: string, source: string, dir = tmp('cc')): string {
  const src = join(dir, `${name}.c`), out = join(dir, name);
  writeFileSync(src, source);
  execFileSync('cc', ['-static', '-O1', '-o', out, src]);
  return out;
}

/** Host pids whose parent is `ppid`. */
export function childrenOf(ppid: number): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      if (Number(stat.replace(/^.*\) /, '').split(' ')[1]) === ppid) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until `cond()` holds (or fail after `ms`). */
export async function until(cond: () => boolean, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '')[0];
    return state !== 'Z';
  } catch {
    return false;
  }
}

/**
 * Kill a process we started (a detached container, pinned when its pid was
 * printed; or our own child) and wait until it is gone. Nothing is sent once
 * the pid names another process: a detached child that ended is reaped by
 * whoever adopted it, and its pid may be another test's container by now.
 */
export async function killAndWait(p: Pinned | ChildProcess): Promise<void> {
  if (!('kill' in p)) {
    const pinned = p;
    if (!signalPinned(pinned, 'SIGKILL')) return;
    await until(() => !isPinned(pinned) || !alive(pinned.pid), 5000, `pid ${pinned.pid} to exit`);
    return;
  }
  const child = p;
  if (!unreaped(child)) return;
  child.kill('SIGKILL');
  await until(() => !unreaped(child), 5000, `pid ${child.pid} to exit`);
}

/** The mountinfo lines of mounts at `path` (as mountinfo spells it). */
export const mountsAt = (path: string) => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === path);

/** move_mount(2)'s number in /proc/PID/syscall (one number on every architecture). */
const MOVE_MOUNT = 429;

/** Is a child of `stracePid` (an ns-clone strace runs, nsAtMoveMount) inside its move_mount(2) (held there by a delay)? */
export function inMoveMount(stracePid: number): boolean {
  return childrenOf(stracePid).some((pid) => {
    try {
      return Number(readFileSync(`/proc/${pid}/syscall`, 'utf8').split(' ')[0]) === MOVE_MOUNT;
    } catch {
      return false;
    }
  });
}

/**
 * `ns-clone ARGS` under strace (`strace`: straceBin's path), its move_mount(2) at `path` (the bind's attach)
 * meeting `inject` (`signal=KILL`, `delay_enter=US`, `delay_exit=US`); strace's own output discarded, never rejects.
 */
export function nsAtMoveMount(strace: string, path: string, inject: string, args: string[], env: NodeJS.ProcessEnv) {
  return execa(strace, ['-qq', '-o', '/dev/null', '-P', path, '-e', 'trace=move_mount', '-e', `inject=move_mount:${inject}`, binPath('ns-clone'), ...args], { reject: false, env });
}

/** A temp dir with the PATH to bind (dir/net), a state dir, its ns-clone records and an env naming it. */
export function bindCase(name: string) {
  const dir = tmp(name);
  const state = join(dir, 'state');
  const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: state };
  delete env.NODE_EXTRA_CA_CERTS;
  return { dir, path: join(dir, 'net'), state, records: join(state, 'ns-clone'), env };
}
