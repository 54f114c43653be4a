/**
 * Signalling only the process a test means. The sandbox has no pid namespace
 * of its own: a pid names a process of the whole machine, and the suite
 * forks thousands (pid_max 32768), so a pid is reused within minutes. A
 * process that has ended and been reaped (a test's own child once Node saw
 * its exit; a container's PID 1, a held child or a `-d` start at any moment:
 * their parent is not the test) may be another test's container by the time
 * a finally or cleanup signals it.
 *
 * `pin(pid)` notes the start time of the process the pid names now (field
 * 22 of /proc/PID/stat, clock ticks since boot); `signalPinned` signals only
 * while that pid still names a process with that start time. (A pid is
 * reused only after the allocator has gone round all of pid_max, so the
 * instant between the check and kill(2) cannot see a reuse.) A zombie keeps
 * its pid and start time: signalling it is harmless.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** A pid and the start time of the process it named when it was pinned (-1: none then). */
export interface Pinned {
  readonly pid: number;
  readonly start: number;
}

/** Start time (clock ticks since boot) of the process `pid` names now; -1 when there is none. */
export function startTime(pid: number): number {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return -1;
  }
  // comm may hold spaces and ')': the fields start after the LAST ')'; starttime is field 22 (the 20th after comm)
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
}

/**
 * The process `pid` names now. Pin it while it is known to run (the pid was
 * just printed by the tool that started it, a record of a live container,
 * a child whose exit has not been seen).
 */
export function pin(pid: number): Pinned {
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`pin: not a pid: ${pid}`);
  return { pid, start: startTime(pid) };
}

/** Whether the pinned process still exists (a zombie counts: it keeps its pid until reaped). */
export function isPinned(p: Pinned): boolean {
  return p.start >= 0 && startTime(p.pid) === p.start;
}

/**
 * Send `sig` to the pinned process only while its pid names it still. True
 * when sent; false when it is gone (its pid free or another process's).
 */
export function signalPinned(p: Pinned, sig: NodeJS.Signals | number = 'SIGKILL'): boolean {
  if (!isPinned(p)) return false;
  try {
    process.kill(p.pid, sig);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}

/** Whether a child of this process has not been reaped yet (Node reaps it before 'exit' and sets these at once). */
export function unreaped(child: ChildProcess): boolean {
  return child.pid !== undefined && child.exitCode === null && child.signalCode === null;
}

/**
 * Signal the process group a child of ours leads, only while that child is
 * unreaped (then no other group can have its pid as pgid). Once it is reaped
 * the pgid may name another's group: nothing is sent, false.
 */
export function signalGroupOf(child: ChildProcess, sig: NodeJS.Signals | number = 'SIGKILL'): boolean {
  if (!unreaped(child)) return false;
  try {
    process.kill(-child.pid!, sig);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ESRCH') return false;
    throw e;
  }
}
