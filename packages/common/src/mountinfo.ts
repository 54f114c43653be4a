/**
 * /proc/PID/mountinfo (proc(5)), parsed in one place for every tool: unionfs
 * reads its unions from it, cg its cgroup hierarchies, run the devpts
 * instances of a container. Only node:fs here: cg's and run's startup
 * snapshots hold this module.
 */
import { readFileSync } from 'node:fs';

export interface MountEntry {
  /** Mount id (the first field). */
  id: number;
  parent: number;
  /** The device, MAJOR:MINOR (st_dev of files on it). */
  dev: string;
  /** The root of the mount within its filesystem (a bind of a subdirectory; an nsfs bind: `net:[4026532249]`). */
  root: string;
  mountpoint: string;
  fstype: string;
  source: string;
  /** Per-mount options (rw, nosuid, relatime...). */
  options: string[];
  /** As mountinfo shows them: escapes kept, so a ',' inside a value (\054) does not split it. */
  superOptions: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
export function unescapeOctal(s: string): string {
  // most fields have no escape: skip the regex for them (cg and run parse on every start)
  return s.includes('\\') ? s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) : s;
}

/**
 * The entries of mountinfo text. The optional fields (shared:N...) end at a
 * lone '-'; a line without one is skipped. A path's space is \040, so the
 * fields split on ' '.
 */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (dash < 0) continue;
    out.push({
      id: Number(f[0]),
      parent: Number(f[1]),
      dev: f[2]!,
      root: unescapeOctal(f[3]!),
      mountpoint: unescapeOctal(f[4]!),
      options: f[5]!.split(','),
      fstype: f[dash + 1]!,
      source: unescapeOctal(f[dash + 2] ?? ''),
      superOptions: f[dash + 3] ?? '',
    });
  }
  return out;
}

/** The entries of a mountinfo file (this process's, unless told); throws as readFileSync does (ENOENT: the process is gone). */
export function readMountinfo(path = '/proc/self/mountinfo'): MountEntry[] {
  return parseMountinfo(readFileSync(path, 'utf8'));
}
