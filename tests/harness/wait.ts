/**
 * Waiting for a state instead of sleeping a fixed time. On a loaded 2-core
 * machine (CI) a server may call listen, a detached process exit or a
 * shell start its command a second or more after the command that caused
 * it returned: a fixed sleep that is enough on an idle machine fails there.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/**
 * Ask `probe` again (every `every` ms, up to `ms`) until `done` holds for
 * its answer, and return the last answer. It never throws on timeout: the
 * caller asserts on the answer, so a state that never comes fails with
 * what was seen last, not with "timed out".
 */
export async function poll<T>(probe: () => T | Promise<T>, done: (v: T) => boolean, ms = 20_000, every = 50): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (done(v) || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, every));
  }
}

/** Wait until `cond()` holds; throws naming `what` after `ms`. */
export async function waitUntil(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  if (!(await poll(cond, (v) => v, ms, 25))) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
}

/** Whether a process runs (a zombie does not: it has ended, only its parent has not reaped it yet). */
export function running(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Whether process `pid` has `path` open (a link to it in /proc/PID/fd): false once it is gone, or before it starts. */
export function opens(pid: number, path: string): boolean {
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return readlinkSync(`/proc/${pid}/fd/${fd}`) === path;
      } catch {
        return false; // closed meanwhile
      }
    });
  } catch {
    return false;
  }
}
