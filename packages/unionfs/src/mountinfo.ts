/**
 * Union mounts as the kernel reports them in /proc/self/mountinfo (see
 * proc(5)): overlay lists its layers in the super options; aufs lists them
 * in /sys/fs/aufs/si_<id>/br<N> ("path=perm"). The table itself is parsed
 * by common's mountinfo (cg and run read it too).
 */
import { readFileSync, readdirSync } from 'node:fs';
import { readMountinfo, unescapeOctal, type MountEntry } from '@boxkit/common/mountinfo';
import type { DriverName } from './spec.js';
import { inside } from './paths.js';

export { parseMountinfo, readMountinfo, type MountEntry } from '@boxkit/common/mountinfo';

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
  /** No path reaches it: the mount point of the mount that covers it (over its own or over a directory above). */
  hiddenBy?: string;
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

/**
 * The mounts no path reaches any more, each with the mount that covers it
 * (as the kernel walks a path: from a mount, into the top mount on each
 * directory it crosses). A mount is hidden when
 * - a mount of the same parent sits on a directory above its mount point
 *   (a mount at /a/b, then one at /a: /a/b now leads into the second), or on
 *   the same one, later in the table (findmnt's rule for such a tie);
 * - a mount sits on its root (a later mount at the same path: its parent is
 *   the mount below it);
 * - its parent is hidden.
 * By the parent ids, not by the order of the table alone: a mount moved in
 * (mount --move) keeps its earlier place in mountinfo.
 */
export function hiddenMounts(entries: MountEntry[]): Map<number, MountEntry> {
  const coverOf = coversOf(entries);
  const hidden = new Map<number, MountEntry>();
  for (const e of entries) {
    const cover = coverOf(e);
    if (cover) hidden.set(e.id, cover);
  }
  return hidden;
}

/** The mount that hides a mount of `entries` (undefined: a path reaches it), asked one mount at a time: most callers ask about a few. */
function coversOf(entries: MountEntry[]): (m: MountEntry) => MountEntry | undefined {
  if (lastCovers?.entries === entries) return lastCovers.coverOf;
  const byId = new Map(entries.map((e) => [e.id, e]));
  // by parent and mount point: a table can hold hundreds of mounts of one parent (a node's pods)
  const at = new Map<string, MountEntry[]>();
  const key = (parent: number, mountpoint: string) => `${parent}\0${mountpoint}`;
  const points = new Set<string>();
  for (const e of entries) {
    points.add(e.mountpoint);
    if (e.parent === e.id) continue; // a namespace's root is its own parent: no child of itself
    const k = key(e.parent, e.mountpoint), list = at.get(k);
    if (list) list.push(e);
    else at.set(k, [e]);
  }
  /** A mount of the same parent on a directory above (the walk meets the outermost first), or on the same one and later. */
  const siblingOver = (m: MountEntry): MountEntry | undefined => {
    const above: string[] = [];
    for (let p = m.mountpoint; p !== '/'; ) {
      p = p.slice(0, p.lastIndexOf('/')) || '/';
      if (points.has(p)) above.push(p);
    }
    for (const p of above.reverse()) {
      const c = at.get(key(m.parent, p))?.find((c) => c.id !== m.parent);
      if (c) return c;
    }
    const same = at.get(key(m.parent, m.mountpoint)) ?? [];
    return same.includes(m) && same[same.length - 1] !== m ? same[same.length - 1] : undefined;
  };
  // memoized, marked before the recursion: a damaged table's parent cycle ends there
  const memo = (f: (m: MountEntry) => MountEntry | undefined) => {
    const done = new Map<number, MountEntry | undefined>();
    return (m: MountEntry) => {
      if (done.has(m.id)) return done.get(m.id);
      done.set(m.id, undefined);
      const r = f(m);
      done.set(m.id, r);
      return r;
    };
  };
  /** What keeps the walk from reaching `m`'s mount point. */
  const pointCover: (m: MountEntry) => MountEntry | undefined = memo((m) => {
    const parent = byId.get(m.parent);
    const viaParent = !parent || parent === m ? undefined
      // on the parent's root (a mount over a mount): reached where the parent's mount point is
      : m.mountpoint === parent.mountpoint ? pointCover(parent) : wholeCover(parent);
    return siblingOver(m) ?? viaParent;
  });
  /** What keeps the walk from reaching into `m` at all: that, or a mount on its root. */
  const wholeCover: (m: MountEntry) => MountEntry | undefined = memo((m) => pointCover(m) ?? at.get(key(m.id, m.mountpoint))?.find((c) => c !== m));
  lastCovers = { entries, coverOf: wholeCover };
  return wholeCover;
}

// one table read serves a whole plan, which asks several times (one slot: a WeakMap costs more here than it saves)
let lastCovers: { entries: MountEntry[]; coverOf: (m: MountEntry) => MountEntry | undefined } | undefined;

export function unionsFrom(entries: MountEntry[], sysfsAufs = '/sys/fs/aufs'): UnionInfo[] {
  const coverOf = coversOf(entries);
  return entries.filter(isUnion).map((e) => unionOf(e, coverOf(e), sysfsAufs));
}

const isUnion = (e: MountEntry) => e.fstype === 'overlay' || e.fstype === 'aufs';

function unionOf(e: MountEntry, cover: MountEntry | undefined, sysfsAufs = '/sys/fs/aufs'): UnionInfo {
  const layers = e.fstype === 'overlay' ? overlayLayers(e.superOptions) : aufsLayers(e.superOptions, sysfsAufs);
  return {
    mountpoint: e.mountpoint, driver: e.fstype as DriverName, ...layers, readonly: e.options.includes('ro') || e.superOptions.split(',')[0] === 'ro', id: e.id,
    ...(cover ? { hiddenBy: cover.mountpoint } : {}),
  };
}

/** A mountinfo file to read, or its entries already read (one read serves a whole plan). */
export type Mountinfo = string | MountEntry[];

function entriesOf(m: Mountinfo): MountEntry[] {
  return typeof m === 'string' ? readMountinfo(m) : m;
}

/** Union mounts of this process's mount namespace, hidden ones too (they still hold their layers). */
export function listUnions(mountinfo: Mountinfo = '/proc/self/mountinfo'): UnionInfo[] {
  return unionsFrom(entriesOf(mountinfo));
}

/** The mount `path` leads to when it is a mount point: the top one there that is not hidden. */
function topAt(mountpoint: string, entries: MountEntry[]): MountEntry | undefined {
  const coverOf = coversOf(entries);
  return entries.find((e) => e.mountpoint === mountpoint && !coverOf(e));
}

/** The union on top at `mountpoint` (the mount that path leads to), if that top mount is a union. */
export function findUnion(mountpoint: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): UnionInfo | undefined {
  const entries = entriesOf(mountinfo);
  const top = topAt(mountpoint, entries);
  return top && isUnion(top) ? unionOf(top, undefined) : undefined;
}

/** Unions mounted at `mountpoint` that the path no longer leads to (a later mount over it or over a directory above). */
export function hiddenUnionsAt(mountpoint: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): UnionInfo[] {
  return listUnions(mountinfo).filter((u) => u.mountpoint === mountpoint && u.hiddenBy !== undefined);
}

/** The per-mount options (nodev, nosuid, relatime...) of the top mount at `mountpoint`. */
export function mountOptionsAt(mountpoint: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): string[] {
  return topAt(mountpoint, entriesOf(mountinfo))?.options ?? [];
}

/** Is anything mounted at `path` that the path leads to? */
export function isMountpoint(path: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): boolean {
  return topAt(path, entriesOf(mountinfo)) !== undefined;
}

/**
 * The mount `path` (absolute, symlinks resolved) is on: the top mount at the
 * deepest mount point above it, among those not hidden (a mount at /a/b
 * under a later one at /a is not where /a/b/x is).
 */
export function mountOf(path: string, mountinfo: Mountinfo = '/proc/self/mountinfo'): MountEntry | undefined {
  const entries = entriesOf(mountinfo);
  const coverOf = coversOf(entries);
  let best: MountEntry | undefined;
  for (const e of entries) {
    if (inside(path, e.mountpoint) && (!best || e.mountpoint.length > best.mountpoint.length) && !coverOf(e)) best = e;
  }
  return best;
}
