/**
 * `diff` and `commit` take a mount point or an upper dir. A mount point
 * names its layers and its driver in mountinfo; an upper dir is looked up
 * among the mounted unions, or its lowers are given with --lower and its
 * driver with --driver (else: aufs if aufs marked it, overlay otherwise).
 * The driver says how its whiteouts are written. A mount point whose union
 * is hidden by a later mount is refused: the path leads into that mount.
 */
import { UsageError } from '@boxkit/common';
import { findUnion, hiddenUnionsAt, listUnions, readMountinfo } from './mountinfo.js';
import { realPath, sameDir, statOrUndefined } from './paths.js';
import { detectDriver } from './whiteout.js';
import { unreachable } from './fserror.js';
import type { DriverName } from './spec.js';

export interface LayerTarget {
  upper: string;
  /** topmost first; empty when unknown (then nothing counts as changed, only added) */
  lowers: string[];
  mountpoint?: string;
  /** whose whiteout format the layers are in */
  driver: DriverName;
}

export function resolveTarget(arg: string, lowers: string[] = [], mountinfo?: string, driver?: string): LayerTarget {
  if (driver !== undefined && driver !== 'overlay' && driver !== 'aufs') throw new UsageError(`unknown driver '${driver}'`, 'use overlay or aufs');
  const p = realPath(arg);
  if (!statOrUndefined(p)?.isDirectory()) throw unreachable(p) ?? new UsageError(`${p}: no such directory`, 'give a union mount point or an upper dir');
  const given = lowers.map((l) => {
    const r = realPath(l);
    if (!statOrUndefined(r)?.isDirectory()) throw unreachable(r, 'lower layer') ?? new UsageError(`lower layer ${r}: no such directory`);
    return r;
  });
  const entries = readMountinfo(mountinfo);
  const mounted = findUnion(p, entries);
  // by inode: mountinfo spells the upper as its mount was given it (a bind mount, a symlink)
  const union = mounted ?? (given.length ? undefined : listUnions(entries).find((u) => u.upper !== undefined && sameDir(p, u.upper)));
  // the path leads into the mount over a hidden union: its files are not that union's changes
  const hidden = union || given.length ? undefined : hiddenUnionsAt(p, entries)[0];
  if (hidden) {
    throw new UsageError(
      `${p}: the union mounted there is hidden by the mount at ${hidden.hiddenBy}`,
      hidden.upper ? `give its upper dir instead: ${hidden.upper}` : `unmount ${hidden.hiddenBy} to reach it`,
    );
  }
  if (union && driver && driver !== union.driver) {
    throw new UsageError(`${p}: --driver ${driver}, but ${union.mountpoint} is mounted with ${union.driver}`);
  }
  if (mounted) {
    if (!mounted.upper) throw new UsageError(`${p}: a read-only union has no upper layer, so no changes`);
    upperThere(p, mounted.upper);
    return { upper: mounted.upper, lowers: given.length ? given : mounted.lowers, mountpoint: p, driver: mounted.driver };
  }
  // a hidden union's mount point leads elsewhere now: nothing written there lands in this union
  if (union) return { upper: p, lowers: union.lowers, ...(union.hiddenBy === undefined ? { mountpoint: union.mountpoint } : {}), driver: union.driver };
  return { upper: p, lowers: given, driver: (driver as DriverName | undefined) ?? detectDriver(p) };
}

/**
 * The kernel keeps a union working after its upper or a lower dir was
 * removed (or renamed), but diff and commit read them by the paths
 * mountinfo names: say so, not ENOENT from deep in a walk.
 */
function upperThere(mnt: string, upper: string): void {
  if (statOrUndefined(upper)?.isDirectory()) return;
  // a path this user cannot reach is there all the same: say that, not "removed"
  throw unreachable(upper, 'upper dir', `the union at ${mnt} keeps its upper dir there, below a directory this user may not search: chmod it, or run as root with CAP_DAC_OVERRIDE`) ?? new UsageError(
    `${mnt}: its upper dir ${upper} no longer exists (removed or renamed while the union is mounted)`,
    `if it was moved, move it back; if removed, its changes are lost: unmount the union (unionfs umount ${mnt})`,
  );
}

/** diff compares with the lowers: those of a mounted union must still be where mountinfo says. */
export function lowersThere(t: LayerTarget): void {
  const gone = t.lowers.find((l) => !statOrUndefined(l)?.isDirectory());
  if (gone === undefined) return;
  const where = t.mountpoint ?? t.upper;
  throw unreachable(gone, 'lower layer', `the union at ${where} reads that lower below a directory this user may not search: chmod it, run as root with CAP_DAC_OVERRIDE, or name the lowers to compare with: unionfs diff ${t.upper} --lower DIR...`) ?? new UsageError(
    `${where}: its lower layer ${gone} no longer exists (removed or renamed while the union is mounted)`,
    `if it was moved, move it back, or name the lowers to compare with: unionfs diff ${t.upper} --lower DIR...`,
  );
}
