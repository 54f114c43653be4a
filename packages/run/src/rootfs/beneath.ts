/**
 * Writes into a root filesystem that may already hold symlinks (`run rootfs
 * DIR` adds to an existing DIR): mkdir -p, copyFile, chmod and writeFile
 * follow them, so `DIR/usr/lib -> /elsewhere` or `DIR/root -> /` would take
 * a write, or a chmod 700, to the host. Each path is checked to resolve
 * inside the root before it is written (the root is root's own: no race
 * with a writer inside it is guarded against).
 */
import { lstatSync, mkdirSync, realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { BoxkitError } from '@boxkit/common';

/** Does `path` exist, as itself (a dangling symlink counts)? */
export function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function refuse(root: string, path: string, via: string, to: string): BoxkitError {
  return new BoxkitError('EXDEV', `${path}: ${via} leads outside ${root} (to ${to})`, { hint: `remove that symlink from ${root}, or build into a new directory` });
}

/** Throw unless what exists of `path` (itself included) resolves inside `root`. */
export function checkInside(root: string, path: string): void {
  const realRoot = realpathSync(root);
  let p = path;
  while (!lexists(p)) p = dirname(p);
  const real = realpathSync(p);
  if (real !== realRoot && !real.startsWith(`${realRoot}/`)) throw refuse(root, path, p, real);
}

/** mkdir -p of `dir` inside `root`: what exists of it must resolve inside; what is missing is made as real directories. */
export function mkdirInside(root: string, dir: string, mode?: number): void {
  checkInside(root, dir);
  mkdirSync(dir, { recursive: true, ...(mode !== undefined ? { mode } : {}) });
}

/** Ready `file` to be written in place: its parent made inside `root`, and the file itself no symlink (a write would follow it). */
export function fileInside(root: string, file: string): void {
  mkdirInside(root, dirname(file));
  if (lexists(file) && lstatSync(file).isSymbolicLink()) throw refuse(root, file, file, 'a symlink');
}
