/**
 * --volume HOST:CONTAINER[:ro|rw]: docker's bind mounts (`-v` is --verbose
 * in every boxkit tool, so only the long form). The container's process
 * takes a detached copy of the host path's mount tree (open_tree
 * OPEN_TREE_CLONE, as crun does) before pivot_root, while the host's tree
 * is in view, and attaches it (move_mount) after it, onto a target resolved
 * in the container's root: a symlink in the image (/data -> /etc) leads to
 * the container's /etc, never the host's, and a target that resolves to
 * its root, /proc, /sys or /dev is refused (trampoline.c move_mount_to).
 * `:ro` makes the copied tree read-only as a whole before it is attached
 * (mount_setattr, recursive: nested mounts too, nosuid/nodev/noexec kept).
 * (A plain bind from an fd opened before the pivot fails: its mount is
 * detached with the old root.)
 */
import { readFileSync, statSync } from 'node:fs';
import { posix } from 'node:path';
import { UsageError } from '@boxkit/common';
import type { Step } from '@boxkit/native';

export interface Volume {
  host: string;
  container: string;
  readOnly: boolean;
  /** a file is bound onto a file, a directory onto a directory */
  file: boolean;
}

/** Where the container's mounts of its own are: a bind there would undo the masking and read-only paths. */
const RESERVED = ['/proc', '/sys', '/dev'];
/** The fds the container's process holds its volumes' sources on, between the open and the mount. */
export const VOLUME_FD_BASE = 500;

/**
 * VOLUME_FD_BASE, or lower under a lower open-file limit (the child inherits this process's):
 * dup2 onto an fd at or above the limit fails (EBADF).
 */
export function volumeFdBase(count: number, limits = readLimits()): number {
  const soft = Number(/^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1] ?? 'NaN');
  const base = Number.isFinite(soft) ? Math.min(VOLUME_FD_BASE, soft - count - 1) : VOLUME_FD_BASE;
  if (base < 64) throw new UsageError(`--volume: the open-file limit (${soft}) leaves no room for ${count} volume${count > 1 ? 's' : ''}`, 'raise it (ulimit -n)');
  return base;
}

function readLimits(): string {
  try {
    return readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return '';
  }
}
const MAX_VOLUMES = 64;

export function parseVolume(s: string): Volume {
  const parts = s.split(':');
  const bad = (why: string, hint = 'write HOST:CONTAINER[:ro], both absolute paths, as docker -v') => new UsageError(`--volume ${s}: ${why}`, hint);
  if (parts.length < 2 || parts.length > 3) throw bad('not HOST:CONTAINER[:ro|rw]');
  const [host, container, mode = 'rw'] = parts as [string, string, string?];
  if (!host.startsWith('/') || !container.startsWith('/')) throw bad('both paths must be absolute');
  if (mode !== 'ro' && mode !== 'rw') throw bad(`unknown option '${mode}'`, 'ro or rw');
  if (container.split('/').includes('..')) throw bad("'..' in the container path");
  const target = posix.normalize(container).replace(/(.)\/+$/, '$1');
  if (target === '/') throw bad('cannot mount over the root');
  if (RESERVED.some((r) => target === r || target.startsWith(`${r}/`))) throw bad(`${target} is the container's own (/proc, /sys, /dev)`);
  let file: boolean;
  try {
    file = !statSync(host).isDirectory();
  } catch {
    throw new UsageError(`--volume ${s}: no such file or directory: ${host}`, 'create it first (run does not make host paths)');
  }
  return { host, container: target, readOnly: mode === 'ro', file };
}

export function checkVolumes(vs: readonly Volume[]): void {
  if (vs.length > MAX_VOLUMES) throw new UsageError(`too many --volume: ${vs.length} (at most ${MAX_VOLUMES})`);
  const seen = new Set<string>();
  for (const v of vs) {
    if (seen.has(v.container)) throw new UsageError(`--volume: ${v.container} is given twice`);
    seen.add(v.container);
  }
}

/** Before pivot_root: each source's mount tree, cloned (read-only as a whole for :ro) and held on its fd. */
export function volumeOpens(vs: readonly Volume[], base = VOLUME_FD_BASE): Step[] {
  return vs.map((v, i) => ({ op: 'OPEN_TREE', ints: [base + i, v.readOnly ? 1 : 0], strs: [v.host] }) as Step);
}

/** After pivot_root: the target made (mkdir -p, or an empty file), then the tree attached there; parents first. */
export function volumeMounts(vs: readonly Volume[], ancestry: (dir: string) => string[], base = VOLUME_FD_BASE): Step[] {
  const steps: Step[] = [];
  // a volume inside another volume's path is mounted after it
  const order = vs.map((v, i) => ({ v, i })).sort((a, b) => a.v.container.split('/').length - b.v.container.split('/').length);
  for (const { v, i } of order) {
    const dirs = ancestry(v.file ? posix.dirname(v.container) : v.container);
    for (const d of dirs) steps.push({ op: 'MKDIR', ints: [0o755], strs: [d], optional: true });
    if (v.file) steps.push({ op: 'TOUCH', ints: [0o644], strs: [v.container], optional: true });
    steps.push({ op: 'MOVE_MOUNT', ints: [base + i], strs: [v.container] });
  }
  return steps;
}

/** -v's trace and the record: docker's HOST:CONTAINER[:ro]. */
export function volumeString(v: Volume): string {
  return `${v.host}:${v.container}${v.readOnly ? ':ro' : ''}`;
}
