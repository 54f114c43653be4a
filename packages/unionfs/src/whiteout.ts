/**
 * Whiteouts: how a union remembers deletions, in its two dialects.
 * overlay: a deleted name is a 0/0 character device; a directory whose lower
 * contents are hidden carries trusted.overlay.opaque="y" (user.overlay.* on
 * userxattr mounts). aufs and OCI layers: a deleted name is an empty file
 * `.wh.<name>`; an opaque directory holds `.wh..wh..opq`; other `.wh..wh.*`
 * names are aufs's own bookkeeping (plnk, orph, aufs) and are not content.
 */
import type { BigIntStats } from 'node:fs';
import { getxattr } from '@boxkit/native';

export const WH_PREFIX = '.wh.';
export const WH_OPAQUE = '.wh..wh..opq';
export const WH_META = '.wh..wh.';
const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
/** xattrs that are overlay's own bookkeeping, never layer content. */
export const OVERLAY_XATTR = /^(trusted|user)\.overlay\./;

export type EntryRole =
  | { role: 'content' }
  /** a deletion of `target` (a path relative to the layer root) */
  | { role: 'whiteout'; target: string; form: 'overlay' | 'aufs' }
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

/** What a layer entry at `rel` (no leading '/') means. */
export function roleOf(rel: string, st: BigIntStats): EntryRole {
  const slash = rel.lastIndexOf('/');
  const dir = rel.slice(0, slash + 1);
  const base = rel.slice(slash + 1);
  if (base === WH_OPAQUE) return { role: 'opaque-marker' };
  if (base.startsWith(WH_META)) return { role: 'meta' };
  if (base.startsWith(WH_PREFIX) && !isDotWhiteoutName(base)) return { role: 'whiteout', target: dir + base.slice(WH_PREFIX.length), form: 'aufs' };
  if (isOverlayWhiteout(st)) return { role: 'whiteout', target: rel, form: 'overlay' };
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
