/**
 * Keeping a namespace alive after its last process: bind-mount its file
 * (/proc/PID/ns/X) onto a path, as `unshare --net=PATH` and `ip netns add` do.
 * `umount PATH && rm PATH` (or `ip netns del` under /run/netns) removes it.
 */
import { closeSync, existsSync, openSync, readFileSync, rmSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { mount, umountIfMounted, MS, NAMESPACES } from '@boxkit/native';
import { BoxkitError } from '@boxkit/common/errors';
import type { NsPath } from './spec.js';

/** What persisting made, so that an undo removes that and nothing the user had before. */
export interface Persisted {
  path: string;
  /** The file did not exist: it was made for the bind mount. */
  madeFile: boolean;
  /** The first directory `mkdir -p` made for it, if any. */
  madeDir?: string;
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));

function isMountpoint(path: string): boolean {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l && unescape(l.split(' ')[4] ?? '') === path);
}

export function persistNamespace(pid: number, p: NsPath): Persisted {
  const fail = (why: string, hint?: string) =>
    new BoxkitError('EPERSIST', `persist ${p.kind} namespace at ${p.path}: ${why}`, hint ? { hint } : {});
  // a second bind would hide the first namespace under it (and open() of an nsfs file is EPERM)
  if (isMountpoint(p.path)) throw fail('a namespace is already bound there', `umount ${p.path} first (ip netns del, under /run/netns), or pick another path`);
  const made: Persisted = { path: p.path, madeFile: !existsSync(p.path) };
  try {
    const dir = mkdirSync(dirname(p.path), { recursive: true });
    if (dir) made.madeDir = dir;
    closeSync(openSync(p.path, 'a'));
  } catch (e) {
    undoPersist(made);
    throw fail((e as Error).message.replace(/, open '.*'$/, ''));
  }
  try {
    mount(`/proc/${pid}/ns/${NAMESPACES[p.kind].file}`, p.path, null, MS.BIND);
  } catch (e) {
    undoPersist(made);
    const hint = p.kind === 'mnt' ? 'a mount namespace can only be bound where propagation is private: mount --make-private on the directory first' : undefined;
    throw fail((e as Error).message, hint);
  }
  return made;
}

/** Undo a persist of this invocation: unmount, then remove only the file and directories it made. */
export function undoPersist(p: Persisted): void {
  try {
    umountIfMounted(p.path, true);
  } finally {
    if (p.madeDir) rmSync(p.madeDir, { recursive: true, force: true });
    else if (p.madeFile) rmSync(p.path, { force: true });
  }
}

/** Release a persisted namespace: `umount PATH && rm PATH`. */
export function unpersist(path: string): void {
  try {
    umountIfMounted(path, true);
  } finally {
    rmSync(path, { force: true });
  }
}
