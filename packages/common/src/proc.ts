/** What /proc says of a process. */
import { readFileSync } from 'node:fs';

/**
 * The fields of /proc/PID/stat after its (comm), which may hold spaces and
 * parentheses: [0] the state, [1] the ppid, [19] the start time in clock
 * ticks since boot. Undefined when there is no such process.
 */
export function procStat(pid: number): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Did the process `pid` end after it made something at `since` (ms since
 * the epoch: a file's mtime, a record's time)? True when no such process
 * exists, or when the one there now started later (the pid was reused).
 * /proc/PID/stat's start time is in clock ticks since boot (USER_HZ: 100
 * on Linux).
 */
export function ownerGone(pid: number, since: number): boolean {
  const f = procStat(pid);
  if (!f) return true;
  try {
    const start = Number(f[19]) / 100;
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    // a second of slack: btime and the tick count are coarse
    return (btime + start) * 1000 > since + 1000;
  } catch {
    return false;
  }
}
