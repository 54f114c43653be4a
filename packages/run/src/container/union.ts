/**
 * The container's root: a union (overlay) of the rootfs or image and the
 * --layer dirs, with a writable upper dir in the data dir, through the
 * unionfs library. An --image tarball is extracted once into unionfs's
 * layer store and shared by every container made from it.
 */
import { statSync } from 'node:fs';
import { umountIfMounted } from '@boxkit/native';
import { applyUnion, lockedUnion, planUnion, renderMount, type UnionPlan as FsPlan } from '@boxkit/unionfs';

export interface UnionPlan {
  /** directories, topmost first */
  lowers: string[];
  /** tarballs (an --image file), below the directories */
  tars?: string[];
  upper: string;
  work: string;
  mountpoint: string;
  /**
   * overlay's volatile: the upper is never synced, not even at unmount.
   * For --rm, whose upper is deleted right after: an unmount of a written
   * upper otherwise waits for an ext4 journal commit (~3-4 ms per container
   * here, against ~1-2 ms volatile; podman does the same for --rm).
   */
  volatile?: boolean;
}

/** A file given as --image is a tarball; a directory is a layer. */
export function isTarball(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function plan(u: UnionPlan): FsPlan {
  return planUnion({ lowers: u.lowers, lowerTars: u.tars ?? [], upper: u.upper, work: u.work, mountpoint: u.mountpoint, driver: 'overlay', volatile: Boolean(u.volatile) });
}

export function unionShell(u: UnionPlan): string {
  try {
    return renderMount(plan(u));
  } catch {
    // a dry run before the rootfs exists: the same command, unchecked
    const args = ['unionfs', 'mount', ...(u.tars ?? []).flatMap((t) => ['--lower-tar', t]), ...u.lowers.flatMap((l) => ['--lower', l]),
      '--upper', u.upper, '--work', u.work, '--driver', 'overlay', ...(u.volatile ? ['--volatile'] : []), u.mountpoint];
    return args.join(' ');
  }
}

export async function mountUnion(u: UnionPlan, signal?: AbortSignal): Promise<void> {
  // a tarball is extracted into unionfs's shared layer store if the plan finds it missing there:
  // planned and extracted under unionfs mount's lock, else two runs of one new image both
  // extract it and the second one's rename into place fails. Directories alone share nothing
  // to make, and a --rm start does not wait on the lock.
  // (an extraction stops between its entries once `signal` is aborted, and undoes itself)
  if (u.tars?.length) await lockedUnion(() => applyUnion(plan(u), signal ? { signal } : {}));
  else await applyUnion(plan(u));
}

/**
 * Unmount (lazily: a process may still hold a file); gone is fine. The
 * mount point is ours (under the container's data dir), so this is one
 * umount2(MNT_DETACH) rather than unionfs's checks, which parse
 * /proc/self/mountinfo twice on every container's exit.
 */
export function unmountUnion(mountpoint: string): void {
  umountIfMounted(mountpoint, true);
}
