/**
 * Root filesystems a container has run from though they hold no root filesystem's shape (etc/
 * proc/ sys/ dev/): FROM-scratch ones (bin/busybox alone, a static /hello). `run rootfs DIR`
 * adds programs to such a DIR (refuseForeignDir) once a container ran from it: the user has
 * named it as a root filesystem before. The start that makes its mount points in the container's
 * layer leaves a note in the data dir, `rootfs/ran-from/DEV.INO.BIRTH` holding DIR's real path
 * (a dir removed and made again at that path is another one); nothing is written into DIR.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { atomicWrite, dataDir } from '@boxkit/common';

function note(dir: string): { path: string; text: string } | undefined {
  try {
    const st = statSync(dir, { bigint: true });
    return { path: dataDir('rootfs', 'ran-from', `${st.dev}.${st.ino}.${st.birthtimeNs}`), text: `${realpathSync(dir)}\n` };
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
