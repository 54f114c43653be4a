/**
 * The container's root: an overlay of the rootfs (and --layer dirs) with a
 * writable upper dir in the data dir. Adapter over the unionfs library.
 */
import { mkdirSync } from 'node:fs';
import { shellQuote } from '@boxkit/common';
import { MS, mount, umountIfMounted } from '@boxkit/native';

export interface UnionPlan {
  /** topmost first */
  lowers: string[];
  upper: string;
  work: string;
  mountpoint: string;
}

export function unionShell(u: UnionPlan): string {
  return shellQuote(['unionfs', 'mount', ...u.lowers.flatMap((l) => ['--lower', l]), '--upper', u.upper, '--work', u.work, u.mountpoint]);
}

export function unionUnmountShell(mountpoint: string): string {
  return shellQuote(['unionfs', 'umount', mountpoint]);
}

export function mountUnion(u: UnionPlan): void {
  for (const d of [u.upper, u.work, u.mountpoint]) mkdirSync(d, { recursive: true, mode: 0o755 });
  const data = `lowerdir=${u.lowers.join(':')},upperdir=${u.upper},workdir=${u.work}`;
  mount('overlay', u.mountpoint, 'overlay', MS.NODEV, data);
}

export function unmountUnion(mountpoint: string): void {
  umountIfMounted(mountpoint, true);
}
