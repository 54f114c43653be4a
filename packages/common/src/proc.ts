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
