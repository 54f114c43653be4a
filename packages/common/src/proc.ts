/** What /proc says of a process. */
import { readFileSync } from 'node:fs';

/** What /proc/PID/stat says of a process (proc(5)), the fields boxkit reads. */
export interface ProcStat {
  /** The executable's name as the kernel keeps it (at most 15 bytes; any byte but NUL, spaces and ')' too). */
  comm: string;
  /** R, S, D, Z, T... */
  state: string;
  ppid: number;
  /** Process group. */
  pgrp: number;
  /** The foreground process group of the controlling terminal (-1: none). */
  tpgid: number;
  /** Start time in clock ticks since boot (USER_HZ: 100 on Linux). */
  start: number;
}

/**
 * /proc/PID/stat (`self`: this process, as /proc shows it even when the pid
 * namespace of /proc differs from ours). Undefined when there is no such
 * process.
 */
export function procStat(pid: number | 'self'): ProcStat | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcStat(stat);
}

/**
 * The text of a stat file. comm is in parentheses and may hold both spaces
 * and ')': the fields start after the LAST ')', where only numbers and the
 * state letter follow.
 */
export function parseProcStat(stat: string): ProcStat {
  const close = stat.lastIndexOf(')');
  // after "(comm) ": [0] state [1] ppid [2] pgrp [3] session [4] tty_nr [5] tpgid ... [19] starttime
  const f = stat.slice(close + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, close),
    state: f[0]!,
    ppid: Number(f[1]),
    pgrp: Number(f[2]),
    tpgid: Number(f[5]),
    start: Number(f[19]),
  };
}

/**
 * Did the process `pid` end after it made something at `since` (ms since
 * the epoch: a file's mtime, a record's time)? True when no such process
 * exists, or when the one there now started later (the pid was reused).
 * /proc/PID/stat's start time is in clock ticks since boot (USER_HZ: 100
 * on Linux).
 */
export function ownerGone(pid: number, since: number): boolean {
  const st = procStat(pid);
  if (!st) return true;
  try {
    const start = st.start / 100;
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // a second of slack: btime and the tick count are coarse
    return (btime + start) * 1000 > since + 1000;
  } catch {
    return false;
  }
}
