/**
 * `diff` and `commit` take a mount point or an upper dir. A mount point
 * names its layers in mountinfo; an upper dir is looked up among the
 * mounted unions, or its lowers are given with --lower.
 */
import { UsageError } from '@boxkit/common';
import { findUnion, listUnions } from './mountinfo.js';
import { realPath, statOrUndefined } from './paths.js';

export interface LayerTarget {
  upper: string;
  /** topmost first; empty when unknown (then nothing counts as changed, only added) */
  lowers: string[];
  mountpoint?: string;
}

export function resolveTarget(arg: string, lowers: string[] = [], mountinfo?: string): LayerTarget {
  const p = realPath(arg);
  if (!statOrUndefined(p)?.isDirectory()) throw new UsageError(`${p}: no such directory`, 'give a union mount point or an upper dir');
  const given = lowers.map((l) => {
    const r = realPath(l);
    if (!statOrUndefined(r)?.isDirectory()) throw new UsageError(`lower layer ${r}: no such directory`);
    return r;
  });
  const mounted = findUnion(p, mountinfo);
  if (mounted) {
    if (!mounted.upper) throw new UsageError(`${p}: a read-only union has no upper layer, so no changes`);
    return { upper: mounted.upper, lowers: given.length ? given : mounted.lowers, mountpoint: p };
  }
  const byUpper = listUnions(mountinfo).find((u) => u.upper === p);
  if (byUpper && !given.length) return { upper: p, lowers: byUpper.lowers, mountpoint: byUpper.mountpoint };
  return { upper: p, lowers: given };
}
