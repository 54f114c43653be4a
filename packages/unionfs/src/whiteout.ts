/**
 * Whiteouts: how a union remembers deletions, in its two dialects. Each
 * union uses its driver's only: an overlay upper or lower holding a
 * regular file `.wh.X` holds content, not a deletion of X.
 * overlay: a deleted name is a 0/0 character device; a directory whose lower
 * contents are hidden carries trusted.overlay.opaque="y" (user.overlay.* on
 * userxattr mounts). aufs and OCI layers: a deleted name is an empty file
 * `.wh.<name>`; an opaque directory holds `.wh..wh..opq`; other `.wh..wh.*`
 * names are aufs's own bookkeeping (plnk, orph, aufs) and are not content.
 */
import type { BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { getxattr } from '@boxkit/native';
import type { DriverName } from './spec.js';
import { lstatOrUndefined } from './paths.js';

export const WH_PREFIX = '.wh.';
export const WH_OPAQUE = '.wh..wh..opq';
export const WH_META = '.wh..wh.';
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
/** xattrs that are overlay's own bookkeeping, never layer content. */
export const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

export type EntryRole =
  | { role: 'content' }
  /** a deletion of `target` (a path relative to the layer root) */
  | { role: 'whiteout'; target: string }
  /** `.wh..wh..opq`: its directory is opaque */
  | { role: 'opaque-marker' }
  /** aufs bookkeeping: skipped with everything below it */
  | { role: 'meta' };

/** major/minor of a device number as glibc encodes it. */
export function devMajor(rdev: bigint): number {
  return Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
}
export function devMinor(rdev: bigint): number {
  return Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
}

export function isOverlayWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** `.wh.`, `.wh..` and `.wh...` would white out their own directory or its parent: odd names, not whiteouts. */
export const isDotWhiteoutName = (base: string): boolean => base === WH_PREFIX || base === `${WH_PREFIX}.` || base === `${WH_PREFIX}..`;

/** What a layer entry at `rel` (no leading '/') means in a layer of `driver`'s format. */
export function roleOf(rel: string, st: BigIntStats, driver: DriverName): EntryRole {
  if (driver === 'overlay') return isOverlayWhiteout(st) ? { role: 'whiteout', target: rel } : { role: 'content' };
  const slash = rel.lastIndexOf('/');
  const base = rel.slice(slash + 1);
  if (base === WH_OPAQUE) return { role: 'opaque-marker' };
  if (base.startsWith(WH_META)) return { role: 'meta' };
  if (base.startsWith(WH_PREFIX) && !isDotWhiteoutName(base)) return { role: 'whiteout', target: rel.slice(0, slash + 1) + base.slice(WH_PREFIX.length) };
  return { role: 'content' };
}

/** A directory marked opaque by overlay's xattr (the .wh..wh..opq form is seen as an entry). */
export function hasOpaqueXattr(abs: string): boolean {
  for (const name of OPAQUE_XATTRS) {
    const v = getxattr(abs, name);
    if (v && v.toString() === 'y') return true;
  }
  return false;
}

const exists = (p: string): boolean => lstatOrUndefined(p) !== undefined;

/** A directory whose lower contents are hidden, in `driver`'s format. */
export function isOpaqueDir(abs: string, driver: DriverName): boolean {
  return driver === 'overlay' ? hasOpaqueXattr(abs) : exists(join(abs, WH_OPAQUE));
}

/** Is there a whiteout of `name` in `dir`, in `driver`'s format? */
export function isWhiteout(dir: string, name: string, st: BigIntStats | undefined, driver: DriverName): boolean {
  return driver === 'overlay' ? st !== undefined && isOverlayWhiteout(st) : exists(join(dir, `${WH_PREFIX}${name}`));
}

/** aufs makes these in the root of every writable branch: an upper holding one was aufs's. */
const AUFS_MARKS = ['.wh..wh.aufs', '.wh..wh.plnk', '.wh..wh.orph'];

/** The format of an upper no mount names: aufs when aufs marked it, else overlay's. */
export function detectDriver(upper: string): DriverName {
  return AUFS_MARKS.some((m) => exists(join(upper, m))) ? 'aufs' : 'overlay';
}
