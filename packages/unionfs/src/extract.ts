/**
 * Extract an OCI layer tarball into a directory overlay can use as a lower
 * layer: `.wh.<name>` becomes a 0/0 character device (overlay's whiteout)
 * and `.wh..wh..opq` the trusted.overlay.opaque="y" xattr on its directory.
 * It extracts into a temporary sibling and renames it into place, so the
 * layer dir is either complete or absent; the siblings a killed extraction
 * left behind go first (sweep.ts).
 */
import { chmodSync, lchownSync, lstatSync, linkSync, lutimesSync, mkdirSync, renameSync, rmSync, symlinkSync, writeSync, openSync, closeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BoxkitError, UsageError } from '@boxkit/common';
import { createInMadeParent, removeMadeDirs } from '@boxkit/common/dirs';
import { mknod, setxattr, S_IF } from '@boxkit/native';
import { holdExtraction } from './sweep.js';
import { lstatOrUndefined } from './paths.js';
import { TarReader, type ReadEntry } from './tarread.js';
import { WH_META, WH_OPAQUE, WH_PREFIX } from './whiteout.js';
import { fsError, fsPath, writeHints, type Hints } from './fserror.js';
import { breather } from './stop.js';
import { lastLook } from '@boxkit/common/signals';

export interface ExtractOptions {
  /**
   * The tarball as it was when `dir` (a content address) was named after
   * its hash; a tarball changed since is refused, before and after.
   */
  stamp?: string;
  /** Stop, removing what was made, once this is aborted (checked between entries and data chunks). */
  signal?: AbortSignal;
  /** How a failure to write `dir` is named (default `extract DIR`), and what to do about it. */
  writing?: { what: string; hints: Hints };
}

export interface ExtractResult {
  dir: string;
  entries: number;
  whiteouts: number;
}

/** a is the layer path b or below it */
const inside = (a: string, b: string) => a === b || a.startsWith(`${b}/`);

/** A layer path made safe: relative, no '..', no empty parts. */
function cleanName(name: string, tar: string): string {
  const parts = name.split('/').filter((p) => p && p !== '.');
  if (parts.includes('..')) throw new UsageError(`${tar}: entry '${name}' escapes the layer`);
  return parts.join('/');
}

/**
 * Refuse entries whose parent path runs through a symlink of the layer: a
 * layer with `lib -> /usr/lib` and then `lib/x` would write outside it.
 */
function checkParents(tmp: string, rel: string, tar: string, safe: Set<string>): void {
  const parts = rel.split('/').slice(0, -1);
  for (let i = 1; i <= parts.length; i++) {
    const sub = parts.slice(0, i).join('/');
    if (safe.has(sub)) continue;
    const st = lstatOrUndefined(join(tmp, sub));
    if (st?.isSymbolicLink()) throw new UsageError(`${tar}: entry '${rel}' goes through the symlink '${sub}'`);
    // GNU tar and docker fail such an entry too: a layer cannot hold it
    if (st && !st.isDirectory()) throw new UsageError(`${tar}: entry '${rel}' is below '${sub}', which is not a directory`);
    if (st) safe.add(sub);
  }
}


const NODE_TYPE: Record<string, number> = { '3': S_IF.CHR, '4': S_IF.BLK, '6': S_IF.FIFO };

/** Write an entry's data a MiB at a time (a step each: the caller can breathe between them). */
function* writeData(r: TarReader, e: ReadEntry, path: string): Generator<void> {
  const fd = openSync(path, 'w', 0o600);
  try {
    for (let off = 0; off < e.size; off += 1 << 20) {
      if (off) yield;
      const chunk = r.read(e.offset + off, Math.min(1 << 20, e.size - off));
      let w = 0;
      while (w < chunk.length) w += writeSync(fd, chunk, w);
    }
  } finally {
    closeSync(fd);
  }
}

/** Extract the layer tarball `tar` into `dir`, a new directory (made complete, or not at all). */
export async function extractLayer(tar: string, dir: string, opts: ExtractOptions = {}): Promise<ExtractResult> {
  const { stamp } = opts;
  const tmp = `${dir}.${process.pid}.tmp`;
  /**
   * A failure said on the path the user knows: DIR for what is written into its temp sibling (a
   * write(2) names no path), the tarball for its open and read(2)s.
   */
  const said = (e: unknown) => {
    const p = fsPath(e);
    const syscall = (e as { syscall?: unknown }).syscall;
    if (p === tar || (p === undefined && syscall === 'read')) {
      return fsError(e, `cannot read ${tar}`, { EACCES: 'give a tarball this user can read (or run as root)', EPERM: 'give a tarball this user can read (or run as root)' });
    }
    const w = opts.writing ?? { what: `extract ${dir}`, hints: writeHints(dirname(dir), 'extract it elsewhere') };
    const notSupported = 'a layer holds whiteouts (0/0 devices, trusted.overlay.* xattrs) and owners: extract needs root and a file system that has them (ext4, xfs, tmpfs)';
    return fsError(e, w.what, { EOPNOTSUPP: notSupported, ENOTSUP: notSupported, ...w.hints, default: `nothing was left at ${dir}` });
  };
  const breath = breather(opts.signal);
  // opened first: a tarball that cannot be opened leaves nothing made
  let r: TarReader;
  try {
    r = new TarReader(tar);
  } catch (e) {
    throw said(e);
  }
  const changed = () => new BoxkitError('ECHANGED', `${tar} changed after it was hashed: ${dir} would not hold it`, { hint: 'mount it again once nothing writes to it' });
  if (stamp !== undefined && r.stamp() !== stamp) {
    r.close();
    throw changed();
  }
  // the parents made here go again on failure (mkdir -p of extract TAR new/deep/dir)
  const madeParents: string[] = [];
  let made: { dev: number; ino: number };
  let held: number | undefined;
  try {
    rmSync(tmp, { recursive: true, force: true });
    // (made again when another extraction that failed took back an empty parent it shares)
    createInMadeParent(tmp, () => mkdirSync(tmp, { mode: 0o755 }), madeParents);
    made = lstatSync(tmp);
    // held locked while it is written: a sweep (run gc) that cannot see this pid (another pid
    // namespace's /proc) still sees the lock and leaves the dir alone (sweep.ts)
    held = holdExtraction(tmp);
  } catch (err) {
    r.close();
    if (held !== undefined) closeSync(held);
    removeMadeDirs(madeParents);
    throw said(err);
  }
  /** directories whose mode and mtime are set at the end, by layer path */
  const dirs = new Map<string, ReadEntry>();
  let entries = 0, whiteouts = 0;
  const safe = new Set<string>();
  /** Remove what a later entry replaces: it is then no safe parent, and no directory to finish. */
  const drop = (rel: string) => {
    rmSync(join(tmp, rel), { recursive: true, force: true });
    for (const s of safe) if (inside(s, rel)) safe.delete(s);
    // a directory replaced by a symlink: a chmod at the end would follow it out of the layer
    for (const d of dirs.keys()) if (inside(d, rel)) dirs.delete(d);
  };
  try {
    for (const e of r.entries()) {
      if (breath.due()) await breath.take();
      const rel = cleanName(e.name, tar);
      if (!rel) continue;
      checkParents(tmp, rel, tar, safe);
      const path = join(tmp, rel);
      const base = rel.split('/').pop()!;
      // aufs bookkeeping (.wh..wh.plnk/, .wh..wh.orph/...) is no content: skipped with what is below it
      if (rel.split('/').some((p) => p.startsWith(WH_META) && p !== WH_OPAQUE)) continue;
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      entries++;
      if (base === WH_OPAQUE) {
        setxattr(dirname(path), 'trusted.overlay.opaque', 'y');
        whiteouts++;
        continue;
      }
      if (base.startsWith(WH_PREFIX)) {
        const name = base.slice(WH_PREFIX.length);
        // '.wh...' would delete the directory above (the layers dir, for --lower-tar), '.wh.' its own
        if (name === '..') throw new UsageError(`${tar}: entry '${e.name}' escapes the layer`);
        if (!name || name === '.') throw new UsageError(`${tar}: whiteout '${e.name}' names no entry`);
        const target = rel.includes('/') ? `${dirname(rel)}/${name}` : name;
        drop(target);
        mknod(join(tmp, target), S_IF.CHR, 0, 0);
        whiteouts++;
        continue;
      }
      // a directory merges into a directory already there; anything else replaces what is there
      // (a symlink too: mkdir -p would follow it, and the chmod after it, out of the layer)
      if (e.typeflag !== '5' || lstatOrUndefined(path)?.isDirectory() === false) drop(rel);
      switch (e.typeflag) {
        case '5': mkdirSync(path, { recursive: true, mode: 0o700 }); dirs.set(rel, e); break;
        case '1': {
          const target = cleanName(e.linkname, tar);
          checkParents(tmp, target, tar, safe);
          // a hard link names an earlier file of the same layer: anything else is a broken tarball, not a system refusal
          const linked = lstatOrUndefined(join(tmp, target));
          if (!linked) throw new UsageError(`${tar}: hard link '${e.name}' to '${e.linkname}', which the layer does not hold before it`);
          if (linked.isDirectory()) throw new UsageError(`${tar}: hard link '${e.name}' to the directory '${e.linkname}'`);
          linkSync(join(tmp, target), path);
          continue; // shares the inode: nothing more to set
        }
        case '2': symlinkSync(e.linkname, path); break;
        case '3': case '4': case '6': mknod(path, NODE_TYPE[e.typeflag]! | (e.mode & 0o7777), e.devmajor, e.devminor); break;
        case '0': case '7': for (const _ of writeData(r, e, path)) if (breath.due()) await breath.take(); break;
        default: continue; // unknown types are skipped, as tar does with a warning
      }
      // chown first: it clears setuid bits and security.capability, which come after
      lchownSync(path, e.uid, e.gid);
      for (const [k, v] of Object.entries(e.xattrs)) setxattr(path, k, v);
      if (e.typeflag !== '2' && e.typeflag !== '5') chmodSync(path, e.mode & 0o7777);
      if (e.typeflag !== '5') lutimesSync(path, e.mtime, e.mtime);
    }
    // directories last: adding children changed their mtimes
    for (const [rel, e] of [...dirs].reverse()) {
      const path = join(tmp, rel);
      chmodSync(path, e.mode & 0o7777);
      lutimesSync(path, e.mtime, e.mtime);
    }
    if (stamp !== undefined && r.stamp() !== stamp) throw changed();
    // removed meanwhile (by hand, or by a sweep that took this pid for one long gone) and made
    // again by a mkdir -p of a later entry: it holds part of the layer, which must not go into place
    const now = lstatOrUndefined(tmp);
    if (now?.dev !== made.dev || now.ino !== made.ino) {
      throw new BoxkitError('ECHANGED', `${tmp} was removed during the extraction: ${dir} would not hold the whole layer`, { hint: 'extract it again' });
    }
    // a signal during the synchronous end (the directories' modes and times) stops it as one before
    await lastLook(opts.signal);
    renameSync(tmp, dir);
    return { dir, entries, whiteouts };
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    removeMadeDirs(madeParents);
    throw said(err);
  } finally {
    r.close();
    closeSync(held);
  }
}
