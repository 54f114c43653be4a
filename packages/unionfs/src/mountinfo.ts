/**
 * Union mounts as the kernel reports them in /proc/self/mountinfo (see
 * proc(5)): overlay lists its layers in the super options; aufs lists them
 * in /sys/fs/aufs/si_<id>/br<N> ("path=perm").
 */
import { readFileSync, readdirSync } from 'node:fs';
import type { DriverName } from './spec.js';
import { inside } from './paths.js';

export interface MountEntry {
  id: number;
  parent: number;
  mountpoint: string;
  fstype: string;
  source: string;
  options: string[];
  /** As mountinfo shows them: escapes kept, so a ',' inside a value (\054) does not split it. */
  superOptions: string;
}

export interface UnionInfo {
  mountpoint: string;
  driver: DriverName;
  /** Topmost first. */
  lowers: string[];
  upper?: string;
  work?: string;
  readonly: boolean;
  /** Mount id (mountinfo's first field). */
  id: number;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

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
      mountpoint: unescapeOctal(f[4]!),
      options: f[5]!.split(','),
      fstype: f[dash + 1]!,
      source: unescapeOctal(f[dash + 2] ?? ''),
      superOptions: f[dash + 3] ?? '',
    });
  }
  return out;
}

/** Split on `sep` where it is not backslash-escaped, then drop the escapes. */
function splitEscaped(s: string, sep: string): string[] {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\' && i + 1 < s.length) cur += s[++i];
    else if (c === sep) (parts.push(cur), (cur = ''));
    else cur += c;
  }
  parts.push(cur);
  return parts;
}

/**
 * overlay's super options: lowerdir=a:b (mount(2)) or lowerdir+=a,lowerdir+=b
 * (fsconfig). The kernel writes a value's ',' as \054, so the options are
 * split before the octal escapes are undone; what is left are the escapes
 * the mount was given (\, \: in a path), undone per layer.
 */
export function overlayLayers(superOptions: string): { lowers: string[]; upper?: string; work?: string } {
  const lowers: string[] = [];
  let upper: string | undefined, work: string | undefined;
  // (an unescaped '\,' is a caller's decoded text: kept together)
  const opts = superOptions.split(/(?<!\\),/).map(unescapeOctal);
  for (const o of opts) {
    const eq = o.indexOf('=');
    const key = o.slice(0, eq), value = o.slice(eq + 1);
    if (key === 'lowerdir') lowers.push(...splitEscaped(value, ':').filter(Boolean));
    else if (key === 'lowerdir+') lowers.push(splitEscaped(value, '\0')[0]!);
    else if (key === 'upperdir') upper = splitEscaped(value, '\0')[0];
    else if (key === 'workdir') work = splitEscaped(value, '\0')[0];
  }
  return { lowers, ...(upper ? { upper } : {}), ...(work ? { work } : {}) };
}

/** aufs branches from sysfs: si=<id> in the options names /sys/fs/aufs/si_<id>. */
function aufsLayers(superOptions: string, sysfs: string): { lowers: string[]; upper?: string } {
  const si = /(?:^|,)si=([0-9a-f]+)/.exec(superOptions)?.[1];
  const lowers: string[] = [];
  let upper: string | undefined;
  if (!si) return { lowers };
  const dir = `${sysfs}/si_${si}`;
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /^br\d+$/.test(n)).sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
  } catch {
    return { lowers };
  }
  for (const n of names) {
    const line = readFileSync(`${dir}/${n}`, 'utf8').trim();
    const eq = line.lastIndexOf('=');
    const [path, perm] = [line.slice(0, eq), line.slice(eq + 1)];
    if (perm.startsWith('rw') && upper === undefined) upper = path;
    else lowers.push(path);
  }
  return { lowers, ...(upper ? { upper } : {}) };
}

export function unionsFrom(entries: MountEntry[], sysfsAufs = '/sys/fs/aufs'): UnionInfo[] {
  const out: UnionInfo[] = [];
  for (const e of entries) {
    if (e.fstype !== 'overlay' && e.fstype !== 'aufs') continue;
    const layers = e.fstype === 'overlay' ? overlayLayers(e.superOptions) : aufsLayers(e.superOptions, sysfsAufs);
    out.push({ mountpoint: e.mountpoint, driver: e.fstype, ...layers, readonly: e.options.includes('ro') || e.superOptions.split(',')[0] === 'ro', id: e.id });
  }
  return out;
}

/** A mountinfo file to read, or its entries already read (one read serves a whole plan). */
export type Mountinfo = string | MountEntry[];

function entriesOf(m: Mountinfo): MountEntry[] {
  return typeof m === 'string' ? parseMountinfo(readFileSync(m, 'utf8')) : m;
}

/** Union mounts of this process's mount namespace. */
export function listUnions(mountinfo: Mountinfo = '/proc/self/mountinfo'): UnionInfo[] {
  return unionsFrom(entriesOf(mountinfo));
}

/** The union on top at `mountpoint` (the last mount there), if that top mount is a union. */
export function findUnion(mountpoint: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): UnionInfo | undefined {
  const entries = entriesOf(mountinfo);
  const top = entries.filter((e) => e.mountpoint === mountpoint).pop();
  if (!top) return undefined;
  return unionsFrom([top])[0];
}

/** The per-mount options (nodev, nosuid, relatime...) of the top mount at `mountpoint`. */
export function mountOptionsAt(mountpoint: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): string[] {
  return entriesOf(mountinfo).filter((e) => e.mountpoint === mountpoint).pop()?.options ?? [];
}

/** Is anything mounted at `path`? */
export function isMountpoint(path: string, mountinfo = '/proc/self/mountinfo'): boolean {
  return parseMountinfo(readFileSync(mountinfo, 'utf8')).some((e) => e.mountpoint === path);
}

/** The mount `path` (absolute, symlinks resolved) is on: the top mount at the deepest mount point above it. */
export function mountOf(path: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): MountEntry | undefined {
  let best: MountEntry | undefined;
  for (const e of entriesOf(mountinfo)) {
    if (inside(path, e.mountpoint) && (!best || e.mountpoint.length >= best.mountpoint.length)) best = e;
  }
  return best;
}
