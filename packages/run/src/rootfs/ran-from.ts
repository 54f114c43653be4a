/**
 * Root filesystems a container has run from though they hold no root filesystem's shape (etc/
 * proc/ sys/ dev/): FROM-scratch ones (bin/busybox alone, a static /hello). `run rootfs DIR`
 * adds programs to such a DIR (refuseForeignDir) once a container ran from it: the user has
 * named it as a root filesystem before. The start that makes its mount points in the container's
 * layer leaves a note in the data dir, `rootfs/ran-from/DEV.INO.BIRTH` holding DIR's real path
 * (a dir removed and made again at that path is another one, even given the freed inode number:
 * ext4 gives it again), nothing written into DIR. BIRTH is statx's birth time, the kernel vouching
 * for it (STATX_BTIME); where statx gives none (refused by a seccomp filter: EPERM, ENOSYS; declined:
 * EOPNOTSUPP, EINVAL; a file system keeping none) the note is `DEV.INO`. (Older runs keyed it by
 * Node's birthtime: statx's where it gives one, the same key; 0 where the file system keeps none;
 * the change time where statx is refused, which a chmod of DIR moved: the note was lost.)
 */
import { readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { bornKnown, statxFile, type FileStat } from '@boxkit/native';
import { atomicWrite, dataDir } from '@boxkit/common';
import { writerGone } from '@boxkit/common/state';

const notesDir = (): string => dataDir('rootfs', 'ran-from');

/**
 * A directory's identity (symlinks followed; throws when it is not there): device and inode as the
 * notes name them (Node's signed bigint stat, as older runs keyed them), and statx's birth time in ns
 * where the kernel vouches for it, else the change time in ns (statx's; Node's stat, stat(2)'s, where statx is refused).
 */
function identity(dir: string): { id: string; btime?: bigint; ctime?: bigint } {
  let s: FileStat | undefined;
  try {
    s = statxFile(dir);
  } catch {
    // statx refused or declined (as Node's stat falls back to stat(2) on: EPERM, ENOSYS, EOPNOTSUPP, EINVAL): Node's
    // stat below, which throws by itself what stat(2) fails with (ENOENT)
  }
  if (s) return { id: `${BigInt.asIntN(64, s.dev)}.${BigInt.asIntN(64, s.ino)}`, ...(bornKnown(s) ? { btime: s.btimeNs } : { ctime: s.ctimeNs }) };
  const st = statSync(dir, { bigint: true });
  return { id: `${st.dev}.${st.ino}`, ctime: st.ctimeNs };
}

/** When a note was written (its mtime, ns), or undefined when it cannot be read. */
function writtenAt(path: string): bigint | undefined {
  return statSync(path, { bigint: true, throwIfNoEntry: false })?.mtimeNs;
}

/**
 * Does note `key` (DEV.INO or DEV.INO.BIRTH, its device and inode the dir's) prove that it is the dir
 * noted? With a birth time now: the one it names, or a note without one written after the dir was born
 * (one made at the path since was born after the note). Without one now (statx refused, a file system
 * keeping none): a note naming the change time (an older run's, statx refused then too, no chmod since;
 * or one naming its birth time, unchanged since), and one without a birth time (DEV.INO, or an older run's
 * DEV.INO.0) by device and inode alone: a dir made again at the path given the freed inode number is taken
 * for the noted one, there being no telling them apart there (a note keyed by the change time was lost at
 * every chmod); one naming another birth time (no telling whether it was a change time) proves nothing
 * there.
 */
function proves(key: string, at: ReturnType<typeof identity>, notePath: string): boolean {
  const birth = key.split('.')[2];
  if (at.btime !== undefined) {
    // (an older run's DEV.INO.0: a file system that kept no birth time then, as DEV.INO)
    if (birth !== undefined && birth !== '0') return birth === String(at.btime);
    const written = writtenAt(notePath);
    return written !== undefined && at.btime < written;
  }
  return birth === undefined || birth === '0' || birth === String(at.ctime);
}

/**
 * `dir`'s note: the one there that proves a container ran from it (`found`; `bare`: keyed by device and
 * inode alone), else the one a start writes (`path`); undefined when `dir` cannot be looked at.
 */
function noteOf(dir: string): { path: string; text: string; found: boolean; bare?: boolean } | undefined {
  let at: ReturnType<typeof identity>;
  let t: string;
  try {
    at = identity(dir);
    t = `${realpathSync(dir)}\n`;
  } catch {
    return undefined;
  }
  const keys = at.btime !== undefined ? [`${at.id}.${at.btime}`, at.id, `${at.id}.0`] : [at.id, `${at.id}.0`, `${at.id}.${at.ctime}`];
  for (const key of keys) {
    const path = join(notesDir(), key);
    if (noted(path, t) && proves(key, at, path)) return { path, text: t, found: true, bare: key === at.id };
  }
  // (no birth time: the device and inode alone, kept through a chmod; a dir made again at the path with the freed inode passes too there)
  return { path: join(notesDir(), keys[0]!), text: t, found: false };
}

function noted(path: string, t: string): boolean {
  try {
    return readFileSync(path, 'utf8') === t;
  } catch {
    return false;
  }
}

/** Has a container run from `dir` (a start noted it: noteRanFrom)? */
export function ranFrom(dir: string): boolean {
  return !!noteOf(dir)?.found;
}

/** Note that a container runs from `dir`, a root filesystem without etc/ proc/ sys/ or dev/ (once per dir). */
export function noteRanFrom(dir: string): void {
  const n = noteOf(dir);
  // a note without a birth time is written again (its mtime now): where statx works it proves a dir born before it,
  // and a dir made again at the path since a refused-statx start found the note by device and inode is born after it
  if (n && (!n.found || n.bare)) atomicWrite(n.path, n.text);
}

/** Why a note no longer proves anything, or undefined while it does (or may: statx refused): its path still leads to that very dir. */
function staleness(key: string, text: string, notePath: string): string | undefined {
  const path = text.endsWith('\n') ? text.slice(0, -1) : '';
  if (!path.startsWith('/')) return 'damaged';
  try {
    // (ranFrom compares the real path: a dir moved, or reached now through a symlink, is not noted)
    if (realpathSync(path) !== path) return 'now another directory';
    const at = identity(path);
    const [dev, ino] = key.split('.');
    if (`${dev}.${ino}` !== at.id) return 'now another directory';
    // (without a birth time now a note naming another is not proven another's: kept, for a run where statx works)
    return at.btime === undefined || proves(key, at, notePath) ? undefined : 'now another directory';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR' ? 'gone' : undefined;
  }
}

/** A note gc dropped (or would): the note file, the directory it named, and why. */
export interface StaleNote {
  note: string;
  dir: string;
  why: string;
}

/**
 * The notes whose directory is gone or is another one now (removed and made again, moved away,
 * the path a symlink since): removed unless `dryRun` (`run gc`), with what a write killed half-way
 * left (NAME.PID.tmp, its writer gone). A path that cannot be looked at now (EACCES, EIO) is kept.
 */
export function sweepRanFrom(dryRun: boolean): StaleNote[] {
  let names: string[];
  try {
    names = readdirSync(notesDir());
  } catch {
    return [];
  }
  const stale: StaleNote[] = [];
  for (const n of names) {
    const path = join(notesDir(), n);
    const aside = /^.+\.(\d+)\.tmp$/.exec(n);
    // (nothing else of the dir is touched: only notes and atomicWrite's files aside)
    if (!aside && !/^-?\d+\.-?\d+(\.\d+)?$/.test(n)) continue;
    let found: StaleNote | undefined;
    if (aside) {
      if (writerGone(path, Number(aside[1]))) found = { note: path, dir: '', why: 'a write killed half-way' };
    } else {
      let text: string;
      try {
        text = readFileSync(path, 'utf8');
      } catch {
        continue; // removed meanwhile, or no file
      }
      const why = staleness(n, text, path);
      if (why) found = { note: path, dir: text.trim(), why };
    }
    if (!found) continue;
    if (!dryRun) rmSync(path, { force: true });
    stale.push(found);
  }
  return stale;
}
