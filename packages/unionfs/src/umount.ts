/**
 * Unmount a union. What is not mounted is already gone: success. A busy
 * mount says so and names the ways out (lazy detach, or find the users).
 * A union hidden by a later mount (over its path or a directory above) is
 * refused: the path no longer leads to it, so no umount(2) of it can.
 */
import { BoxkitError, UsageError } from '@boxkit/common';
import { MNT, SysError, umount2 } from '@boxkit/native';
import { findUnion, hiddenUnionsAt, isMountpoint, readMountinfo } from './mountinfo.js';
import { realPath, statOrUndefined } from './paths.js';
import { out } from '@boxkit/common/stdio';

export interface UmountResult {
  mountpoint: string;
  /** false when nothing was mounted there (idempotent success). */
  unmounted: boolean;
}

export interface UmountOptions {
  lazy?: boolean;
  dryRun?: boolean;
  print?: (line: string) => void;
  mountinfo?: string;
}

export function umountShell(mountpoint: string, lazy = false): string {
  return ['umount', ...(lazy ? ['-l'] : []), mountpoint].join(' ');
}

export function umountUnion(mnt: string, opts: UmountOptions = {}): UmountResult {
  const mountpoint = realPath(mnt);
  const st = statOrUndefined(mountpoint);
  if (st && !st.isDirectory()) throw new UsageError(`umount ${mountpoint}: not a directory`);
  const entries = readMountinfo(opts.mountinfo);
  if (!st || !isMountpoint(mountpoint, entries)) {
    // still mounted, but the path now leads into the mount over it: "not mounted" would be a lie
    // (the union holds its upper still), and no umount(2) of this path can reach it
    const hidden = hiddenUnionsAt(mountpoint, entries)[0];
    if (hidden) {
      throw new BoxkitError('EBUSY', `umount ${mountpoint}: the union mounted there is hidden by the mount at ${hidden.hiddenBy}`, {
        hint: `unmount ${hidden.hiddenBy} first (its path leads over this union's), then unionfs umount ${mountpoint} again`,
      });
    }
    return { mountpoint, unmounted: false };
  }
  if (!findUnion(mountpoint, entries)) {
    const hidden = hiddenUnionsAt(mountpoint, entries)[0];
    throw new UsageError(
      `umount ${mountpoint}: not a union mount`,
      hidden ? `the union mounted there is hidden by the mount at ${hidden.hiddenBy}: unmount that first (umount(8))` : 'unionfs ls shows the union mounts; use umount(8) for others',
    );
  }
  if (opts.dryRun) {
    (opts.print ?? out)(umountShell(mountpoint, opts.lazy));
    return { mountpoint, unmounted: false };
  }
  try {
    umount2(mountpoint, opts.lazy ? MNT.DETACH : 0);
  } catch (e) {
    if (e instanceof SysError && e.code === 'EBUSY') {
      throw new BoxkitError('EBUSY', `umount ${mountpoint}: the mount is busy (a process has a file or its cwd in it)`, {
        hint: `find the users with: fuser -vm ${mountpoint}; or detach it now and free it later: unionfs umount --lazy ${mountpoint}`,
      });
    }
    if (e instanceof SysError && e.code === 'EINVAL') return { mountpoint, unmounted: false };
    if (e instanceof SysError && e.code === 'EPERM') {
      throw new BoxkitError('EPERM', `umount ${mountpoint}: operation not permitted`, { hint: 'unmounting needs root (CAP_SYS_ADMIN)', cause: e });
    }
    throw e;
  }
  return { mountpoint, unmounted: true };
}
