/**
 * Paths inside a container's root, looked up from the host. A rootfs or an
 * image is untrusted: its symlinks (`/etc -> /`, `etc/hosts ->
 * ../../../../etc/shadow`) must mean what they mean inside the container,
 * never a host path, or `run` (as root, on the host) reads or overwrites the
 * host's files. Symlinks are resolved here with the container's root as /
 * (`..` stops there), like securejoin / openat2(RESOLVE_IN_ROOT).
 */
import { closeSync, constants, lstatSync, openSync, readlinkSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const MAX_LINKS = 40; // the kernel's limit on a path walk

/** The host path of `path` as the container would see it under `root`, or undefined when it (or a directory on the way) is missing or loops. */
export function resolveInRoot(root: string, path: string): string | undefined {
  const todo = path.split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (todo.length) {
    const part = todo.shift()!;
    if (part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const host = join(root, ...done, part);
    let isLink: boolean;
    try {
      isLink = lstatSync(host).isSymbolicLink();
    } catch {
      return undefined;
    }
    if (!isLink) {
      done.push(part);
      continue;
    }
    if (++links > MAX_LINKS) return undefined;
    const target = readlinkSync(host);
    if (target.startsWith('/')) done.length = 0;
    todo.unshift(...target.split('/').filter(Boolean));
  }
  return join(root, ...done);
}

/**
 * Write `data` as the file `name` of the container's directory `dir` (a
 * path inside the root, e.g. /etc): a symlink of that name is replaced by
 * the file, never followed. False when `dir` is not there.
 */
export function writeInRoot(root: string, dir: string, name: string, data: string, append = false): boolean {
  const d = resolveInRoot(root, dir);
  if (!d) return false;
  try {
    if (!lstatSync(d).isDirectory()) return false;
  } catch {
    return false;
  }
  const file = join(d, name);
  try {
    if (lstatSync(file).isSymbolicLink()) unlinkSync(file);
  } catch {
    // not there: created below
  }
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (append ? constants.O_APPEND : constants.O_TRUNC);
  const fd = openSync(file, flags, 0o644);
  try {
    writeSync(fd, data);
  } finally {
    closeSync(fd);
  }
  return true;
}
