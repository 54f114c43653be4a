/**
 * An upper layer as an OCI layer tarball (image-spec layer.md): whiteouts
 * (read in the format of the driver that made the upper) become
 * `.wh.<name>` files, opaque directories get a `.wh..wh..opq` entry,
 * overlay's own xattrs are dropped, and ownership, modes, other xattrs,
 * hard links and symlinks are kept. Content named `.wh.*` (an overlay
 * upper can hold it) has no form in such a layer: it is refused.
 */
import { readlinkSync, renameSync, rmSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { listxattr, getxattr } from '@boxkit/native';
import { TarWriter, type TarEntry, type TarType } from './tar.js';
import { walkLayer, type LayerEntry } from './walk.js';
import { UsageError } from '@boxkit/common';
import { devMajor, devMinor, OVERLAY_XATTR, WH_OPAQUE, WH_PREFIX } from './whiteout.js';
import type { DriverName } from './spec.js';
import { fsError, fsPath, readHints, writeHints } from './fserror.js';
import { breather } from './stop.js';
import { lastLook } from '@boxkit/common/signals';

export interface CommitResult {
  output: string;
  upper: string;
  entries: number;
  whiteouts: number;
  bytes: number;
  /** sha256 of the uncompressed tarball: the layer's diff_id */
  digest: string;
}

function typeOf(e: LayerEntry): TarType | undefined {
  const st = e.st;
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  return undefined; // sockets are not layer content (docker skips them too)
}

function xattrsOf(abs: string): Record<string, Buffer> | undefined {
  const out: Record<string, Buffer> = {};
  for (const name of listxattr(abs)) {
    if (OVERLAY_XATTR.test(name)) continue;
    const v = getxattr(abs, name);
    if (v) out[name] = v;
  }
  return Object.keys(out).length ? out : undefined;
}

function whiteoutEntry(name: string, e: LayerEntry): TarEntry {
  return { name, type: 'file', mode: 0o600, uid: Number(e.st.uid), gid: Number(e.st.gid), mtime: Number(e.st.mtimeMs / 1000n), size: 0 };
}

export interface CommitOptions {
  /** Stop, removing the partial tarball, once this is aborted (checked between entries and MiBs). */
  signal?: AbortSignal;
}

/** Write `upper` (a layer in `driver`'s format) to `output` as an OCI layer tarball. */
export async function commitLayer(upper: string, output: string, driver: DriverName = 'overlay', opts: CommitOptions = {}): Promise<CommitResult> {
  const breath = breather(opts.signal);
  const tmp = join(dirname(output), `.${basename(output)}.${process.pid}.tmp`);
  /**
   * A failure said on the path the user knows: OUT for the temp file it is written as (its open, write,
   * close, rename), else the upper's file being read (a read(2) names none: the entry at hand).
   */
  let reading = upper;
  const said = (e: unknown) => {
    const syscall = (e as { syscall?: unknown }).syscall;
    return fsPath(e) === tmp || (fsPath(e) === undefined && syscall !== 'read')
      ? fsError(e, `commit ${output}`, { ...writeHints(dirname(output), 'give an OUT elsewhere'), default: `nothing was left at ${output}` })
      : fsError(e, `cannot read ${fsPath(e) ?? reading}`, readHints('commit'));
  };
  let tar: TarWriter;
  try {
    tar = new TarWriter(tmp);
  } catch (e) {
    throw said(e);
  }
  const links = new Map<string, string>();
  let whiteouts = 0;
  try {
    for (const e of walkLayer(upper, driver)) {
      if (breath.due()) await breath.take();
      reading = e.abs;
      const r = e.role;
      if (r.role === 'meta') continue;
      if (r.role === 'whiteout') {
        const slash = r.target.lastIndexOf('/');
        // '.wh..wh.X' would be read as aufs bookkeeping (extract skips it), not as a deletion of '.wh.X'
        const gone = r.target.slice(slash + 1);
        if (gone.startsWith(WH_PREFIX)) {
          throw new UsageError(`${e.abs}: the deletion of '${gone}' cannot go in an OCI layer, where '.wh.' names are whiteouts`, 'keep that file in the union, then commit again');
        }
        tar.add(whiteoutEntry(`${r.target.slice(0, slash + 1)}${WH_PREFIX}${r.target.slice(slash + 1)}`, e));
        whiteouts++;
        continue;
      }
      // written right after its directory's own entry, below
      if (r.role === 'opaque-marker') continue;
      const type = typeOf(e);
      if (!type) continue;
      // in a layer such a name is a whiteout (of X, of its directory or of the one above) or aufs bookkeeping
      const name = e.rel.slice(e.rel.lastIndexOf('/') + 1);
      if (name.startsWith(WH_PREFIX)) {
        throw new UsageError(`${e.abs}: a file named '${name}' cannot go in an OCI layer, where '.wh.' names are whiteouts`, 'rename or remove it, then commit again');
      }
      const st = e.st;
      const base: TarEntry = {
        name: type === 'dir' ? `${e.rel}/` : e.rel,
        type, mode: Number(st.mode & 0o7777n), uid: Number(st.uid), gid: Number(st.gid),
        mtime: Number(st.mtimeMs / 1000n),
      };
      const xattrs = xattrsOf(e.abs);
      if (xattrs) base.xattrs = xattrs;
      if (type === 'file' && st.nlink > 1n) {
        const key = `${st.dev}:${st.ino}`;
        const first = links.get(key);
        if (first !== undefined) {
          tar.add({ ...base, type: 'link', linkname: first, size: 0 });
          continue;
        }
        links.set(key, e.rel);
      }
      if (type === 'file') {
        for (const _ of tar.adding({ ...base, size: Number(st.size) }, e.abs)) if (breath.due()) await breath.take();
      }
      else if (type === 'symlink') tar.add({ ...base, linkname: readlinkSync(e.abs) });
      else if (type === 'char' || type === 'block') tar.add({ ...base, devmajor: devMajor(st.rdev), devminor: devMinor(st.rdev) });
      else tar.add(base);
      if (type === 'dir' && e.opaque) {
        tar.add(whiteoutEntry(`${e.rel}/${WH_OPAQUE}`, e));
        whiteouts++;
      }
    }
    const digest = tar.finish();
    // a signal until here leaves no OUT (the rename is the commit point: OUT may have been replaced)
    await lastLook(opts.signal);
    renameSync(tmp, output);
    return { output, upper, entries: tar.entries, whiteouts, bytes: tar.bytes, digest };
  } catch (err) {
    try {
      tar.abort();
    } catch {
      // already closed
    }
    rmSync(tmp, { force: true });
    throw said(err);
  }
}
