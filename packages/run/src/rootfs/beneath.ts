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
import { lexists } from '@boxkit/common/dirs';


/**
 * An existing DIR must be the caller's and writable by nobody else: the
 * checks here are made before each write, and another user able to swap a
 * directory of it for a symlink in between would get root's write anywhere.
 */
export function checkOwnRoot(root: string): void {
  let st;
  try {
    st = lstatSync(root);
  } catch {
    return; // made here
  }
  const real = realpathSync(root);
  if (real === '/') throw new BoxkitError('EINVAL', `rootfs: ${root} is the host's /`, { hint: 'build into a new directory' });
  const me = process.geteuid?.() ?? 0;
  const dir = st.isSymbolicLink() ? lstatSync(real) : st;
  if (dir.uid !== me || (dir.mode & 0o022) !== 0) {
    throw new BoxkitError('EPERM', `rootfs: ${root} is not yours alone (owner uid ${dir.uid}, mode ${(dir.mode & 0o7777).toString(8)})`, { hint: 'build into a new directory, or chown/chmod it first' });
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
  let real: string;
  try {
    real = realpathSync(p);
  } catch (e) {
    // a symlink that leads nowhere (ENOENT) or round (ELOOP): where it would take a write is unknown
    throw new BoxkitError('EXDEV', `${path}: ${p} is a symlink that cannot be followed (${(e as NodeJS.ErrnoException).code})`, { hint: `remove it from ${root}, or build into a new directory` });
  }
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
