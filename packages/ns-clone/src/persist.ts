/**
 * Keeping a namespace alive after its last process: bind-mount its file
 * (/proc/PID/ns/X) onto a path, as `unshare --net=PATH` and `ip netns add` do.
 * `umount PATH && rm PATH` (or `ip netns del` under /run/netns) removes it.
 */
import { closeSync, openSync, rmSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { mount, umountIfMounted, MS, NAMESPACES } from '@boxkit/native';
import { BoxkitError } from '@boxkit/common/errors';
import type { NsPath } from './spec.js';

export function persistNamespace(pid: number, p: NsPath): void {
  mkdirSync(dirname(p.path), { recursive: true });
  closeSync(openSync(p.path, 'a'));
  try {
    mount(`/proc/${pid}/ns/${NAMESPACES[p.kind].file}`, p.path, null, MS.BIND);
  } catch (e) {
    rmSync(p.path, { force: true });
    const hint = p.kind === 'mnt' ? 'a mount namespace can only be bound where propagation is private: mount --make-private on the directory first' : undefined;
    throw new BoxkitError('EPERSIST', `persist ${p.kind} namespace at ${p.path}: ${(e as Error).message}`, hint ? { hint } : {});
  }
}

export function unpersist(path: string): void {
  try {
    umountIfMounted(path, true);
  } finally {
    rmSync(path, { force: true });
  }
}
