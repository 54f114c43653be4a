/**
 * Root filesystems a container has run from though they hold no root filesystem's shape (etc/
 * proc/ sys/ dev/): FROM-scratch ones (bin/busybox alone, a static /hello). `run rootfs DIR`
 * adds programs to such a DIR (refuseForeignDir) once a container ran from it: the user has
 * named it as a root filesystem before. The start that makes its mount points in the container's
 * layer leaves a note in the data dir, `rootfs/ran-from/DEV.INO.BIRTH` holding DIR's real path
 * (a dir removed and made again at that path is another one); nothing is written into DIR.
 */
import { readdirSync, readFileSync, realpathSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { atomicWrite, dataDir } from '@boxkit/common';
import { writerGone } from '@boxkit/common/state';

const notesDir = (): string => dataDir('rootfs', 'ran-from');

/** A directory's note name: DEV.INO.BIRTH (following symlinks). Throws when it is not there. */
function keyOf(dir: string): string {
  const st = statSync(dir, { bigint: true });
  return `${st.dev}.${st.ino}.${st.birthtimeNs}`;
}

function note(dir: string): { path: string; text: string } | undefined {
  try {
    return { path: join(notesDir(), keyOf(dir)), text: `${realpathSync(dir)}\n` };
  } catch {
    return undefined;
  }
}

function noted(n: { path: string; text: string }): boolean {
  try {
    return readFileSync(n.path, 'utf8') === n.text;
  } catch {
    return false;
  }
}

/** Has a container run from `dir` (a start noted it: noteRanFrom)? */
export function ranFrom(dir: string): boolean {
  const n = note(dir);
  return n !== undefined && noted(n);
}

/** Note that a container runs from `dir`, a root filesystem without etc/ proc/ sys/ or dev/ (once per dir). */
export function noteRanFrom(dir: string): void {
  const n = note(dir);
  if (n && !noted(n)) atomicWrite(n.path, n.text);
}

/** Why a note no longer proves anything, or undefined while it does: its path still leads to that very dir. */
function staleness(key: string, text: string): string | undefined {
  const path = text.endsWith('\n') ? text.slice(0, -1) : '';
  if (!path.startsWith('/')) return 'damaged';
  try {
    // (ranFrom compares the real path: a dir moved, or reached now through a symlink, is not noted)
    if (realpathSync(path) !== path) return 'now another directory';
    return keyOf(path) === key ? undefined : 'now another directory';
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
    if (!aside && !/^\d+\.\d+\.\d+$/.test(n)) continue;
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
      const why = staleness(n, text);
      if (why) found = { note: path, dir: text.trim(), why };
    }
    if (!found) continue;
    if (!dryRun) rmSync(path, { force: true });
    stale.push(found);
  }
  return stale;
}
