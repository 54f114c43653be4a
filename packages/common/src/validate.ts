/**
 * Names are checked before they touch a path or the kernel: a name that is
 * used as a path component must not escape its directory.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from './errors.js';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const nameRule = (max: number) => `1-${max} letters, digits, '_', '.', '-', starting with a letter or digit`;

/** A name used as one path component (container, group, netns, service). */
export function validateName(kind: string, name: string, max = 64, hint = `use ${nameRule(max)} (no '/' or '..')`): string {
  if (!name || name.length > max || !NAME.test(name) || name === '.' || name === '..' || name.includes('..')) {
    throw new UsageError(`invalid ${kind} name '${name}'`, hint);
  }
  return name;
}

/** A network interface name: at most 15 bytes (IFNAMSIZ-1), no '/', whitespace or ':'. */
export function validateIfName(name: string): string {
  if (!name || Buffer.byteLength(name) > 15 || /[\s/:]/.test(name) || name === '.' || name === '..') {
    throw new UsageError(`invalid interface name '${name}'`, 'interface names are 1-15 characters without spaces, "/" or ":"');
  }
  return name;
}

/** A cgroup path below a parent: components are names, joined with '/'. */
export function validateRelPath(kind: string, path: string): string {
  // nested names are fine here (x/y, as cgcreate makes them): the hint must not say "no '/'"
  const hint = `use a name of ${nameRule(64)}, or names nested with '/' (x/y); no '..'`;
  const parts = path.split('/').filter((p) => p.length > 0);
  if (!parts.length || path.includes('\0')) throw new UsageError(`invalid ${kind} '${path}'`, hint);
  for (const p of parts) validateName(kind, p, 64, hint);
  return parts.join('/');
}

/** A positive integer PID. */
export function validatePid(value: string | number): number {
  const s = String(value).trim();
  // 4194304 is the kernel's largest pid (PID_MAX_LIMIT): a larger number through a C int could wrap to -1 (kill: everyone)
  if (!/^[1-9][0-9]{0,6}$/.test(s) || Number(s) > 4194304) throw new UsageError(`invalid pid '${s}'`, 'a process id from 1 to 4194304');
  return Number(s);
}

/**
 * A wait in seconds (a stop timeout): not negative, and short enough that
 * its milliseconds fit a timer (Node fires a longer setTimeout at once).
 */
export const MAX_WAIT_SECONDS = 2_147_483;
export function validateSeconds(flag: string, value: number | string | undefined): number {
  const n = Number(value);
  if (value === undefined || String(value).trim() === '' || !Number.isFinite(n) || n < 0 || n > MAX_WAIT_SECONDS) {
    throw new UsageError(`invalid ${flag} '${value}'`, `seconds from 0 to ${MAX_WAIT_SECONDS}`);
  }
  return n;
}

/**
 * The first of `names` (proc, dev, ...) that is a symlink in a root
 * filesystem, with where it points. A container's /proc or /dev is mounted
 * over that path from the host side, before pivot_root: over a symlink the
 * mount lands where the link points (an image's `proc -> /host/dir` names a
 * host path), outside what the container will see, so the container would
 * start without its /proc or /dev. Callers refuse such a root.
 */
export function symlinkedMountPoint(root: string, names: readonly string[]): { name: string; target: string } | undefined {
  for (const name of names) {
    try {
      if (lstatSync(join(root, name)).isSymbolicLink()) return { name, target: readlinkSync(join(root, name)) };
    } catch {
      // missing: the mount says so
    }
  }
  return undefined;
}
