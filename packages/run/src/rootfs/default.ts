/**
 * The built-in default root filesystem: Debian's busybox-static binary with
 * a symlink for each of its applets, plus the skeleton. It is made from the
 * host's own /bin/busybox (no network), once, under the data dir, and is
 * then shared read-only as the lower layer of every container that names no
 * --rootfs or --image.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync } from 'node:fs';
import { listUnions } from '@boxkit/unionfs';
import { basename, dirname, join, resolve } from 'node:path';
import { BoxkitError } from '@boxkit/common';
import { dataDir, withLock, withLockSync } from '@boxkit/common';
import { writerGone } from '@boxkit/common/state';
import { shellQuote } from '@boxkit/common/exec';
import { skeletonShell, writeSkeleton } from './skeleton.js';
import { scan } from '../state/store.js';

const BUSYBOX_CANDIDATES = ['/bin/busybox', '/usr/bin/busybox', '/sbin/busybox'];

export function defaultRootfsDir(): string {
  return dataDir('rootfs', 'default');
}

/** The host's statically linked busybox, or a clear error naming the package. */
export function findBusybox(): string {
  const bb = BUSYBOX_CANDIDATES.find((p) => existsSync(p));
  if (!bb) {
    throw new BoxkitError('ENOBUSYBOX', 'default rootfs: busybox is not installed', {
      hint: 'apt-get install busybox-static (or pass --rootfs DIR)',
    });
  }
  return bb;
}

/**
 * The lock of the builds of the default rootfs, and of the sweeps of what they leave beside it:
 * rootfs/.lock in the data dir (root's). Only there: a DIR elsewhere may sit in a shared sticky
 * dir (/tmp), where DIR/../.lock may be another user's file (held, it hung the build; a symlink,
 * it was followed): its builds sweep only the trees of builders that are gone (build).
 * Taken once per call, never nested: flock belongs to an open file, and a second open of the
 * lock file in the same process would wait on the first for ever.
 */
const buildLock = (): string => dataDir('rootfs', '.lock');

/** The build lock of the default rootfs (a foreground run's teardown names it when it waits for it). */
export const defaultRootfsLock = buildLock;

const isDefault = (dir: string): boolean => resolve(dir) === resolve(defaultRootfsDir());

/** Where busybox's applets go, beside the skeleton's directories. */
const APPLET_DIRS = ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'var', 'run'];

/**
 * May a union use `dir` as a layer: one of this mount namespace names it (unionfs's parser: escaped
 * paths, lowerdir+=, aufs), or a container's record names it, whose union may be mounted in another
 * mount namespace, out of this one's sight (the records are shared across them)? A damaged record
 * counts as one that names it: its container is unknown (as gc's sweep of data dirs, which stops
 * while one is damaged); list() skipped it, and its container's root was swept from under it.
 */
function inUse(dir: string, going?: Going): boolean {
  const d = resolve(dir);
  const { records, damaged } = scan();
  if (damaged.length) return true;
  return records.some((r) => !going?.ids.has(r.id) && (resolve(r.rootfs) === d || r.layers.some((l) => resolve(l) === d)))
    || listUnions().some((u) => !going?.mountpoints.has(u.mountpoint) && u.lowers.includes(d));
}

/**
 * What `run gc --dry-run` would have removed by the time its sweep looks (a real gc's teardowns
 * come first): the containers' ids and the mount points of their unions (of orphan data dirs too).
 */
export interface Going {
  ids: ReadonlySet<string>;
  mountpoints: ReadonlySet<string>;
}

/**
 * Build the busybox tree at `dir` (replaced atomically: built beside it, then
 * renamed). The tree it replaces is renamed aside and removed, with those an
 * earlier rebuild kept, unless a union may use `dir` as a layer (inUse): its
 * containers keep their root (removing it in place emptied every running
 * container's /, and the README's pipeline runs `run rootfs --default`).
 * The default rootfs is built under its build lock (taken here), whose sweep
 * removes every DIR.PID.tmp beside it; any other `dir` takes no lock and
 * sweeps only those whose builder is gone (ownerGone: pid and start time), a
 * concurrent build's tree staying.
 */
export function buildBusyboxRootfs(dir: string, busybox = findBusybox()): string[] {
  if (isDefault(dir)) return withLockSync(buildLock(), () => build(dir, busybox, true));
  return build(dir, busybox, false);
}

function build(dir: string, busybox: string, locked: boolean): string[] {
  const tmp = `${dir}.${process.pid}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  writeSkeleton(tmp);
  for (const d of APPLET_DIRS) mkdirSync(join(tmp, d), { recursive: true });
  copyFileSync(busybox, join(tmp, 'bin', 'busybox'));
  chmodSync(join(tmp, 'bin', 'busybox'), 0o755);
  const applets = execFileSync(busybox, ['--list-full'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const a of applets) {
    const link = join(tmp, a);
    if (a === 'bin/busybox' || existsSync(link)) continue;
    mkdirSync(dirname(link), { recursive: true });
    symlinkSync('/bin/busybox', link);
  }
  mkdirSync(dirname(dir), { recursive: true });
  if (existsSync(dir)) renameSync(dir, `${dir}.replaced-${process.pid}-${Date.now()}`);
  renameSync(tmp, dir);
  // (looked at once the new tree has the name: a union mounted since then may use either)
  sweepLeftovers(dir, false, undefined, locked);
  return applets;
}

/**
 * What earlier builds of `dir` left beside it: trees a build killed half-way
 * left (`DIR.PID.tmp`: all of them when the caller holds the build's lock
 * (buildLock), as none is being built then; else those whose builder is
 * gone), and replaced trees once no union may use `dir` as a layer.
 * Removed unless `dryRun`; returns their paths.
 */
function sweepLeftovers(dir: string, dryRun = false, going?: Going, locked = true): string[] {
  let names: string[];
  try {
    names = readdirSync(dirname(dir));
  } catch {
    return [];
  }
  const base = basename(dir);
  const left = names.filter((e) => e.startsWith(`${base}.`) && /^\d+\.tmp$/.test(e.slice(base.length + 1)))
    .filter((e) => locked || writerGone(join(dirname(dir), e), Number(e.slice(base.length + 1, -4)))).map((e) => join(dirname(dir), e));
  const replaced = names.filter((e) => e.startsWith(`${base}.replaced-`)).map((e) => join(dirname(dir), e));
  if (replaced.length && !inUse(dir, going)) left.push(...replaced);
  if (!dryRun) for (const l of left) rmSync(l, { recursive: true, force: true });
  return left;
}

/**
 * At the teardown of a container (its record forgotten, its union unmounted): the trees `run
 * rootfs --default` kept for the containers then running on the old one go once none is left
 * (sweepLeftovers: inUse, under the build lock, as gc and the next build), not at the next gc.
 * A container of another rootfs costs nothing; one of the default rootfs one readdir while no
 * replaced tree exists (the lock is taken only when one does). The lock is taken by withLock, so
 * a foreground run's teardown waits for it as for its other locks (common's lockWaits: said after
 * 1 s, stopped by a signal); it blocked in flock(2), unannounced and deaf to a Ctrl-C.
 */
export async function sweepReplacedAfter(rec: { rootfs: string; layers: readonly string[] }): Promise<void> {
  const dir = resolve(defaultRootfsDir());
  if (resolve(rec.rootfs) !== dir && !rec.layers.some((l) => resolve(l) === dir)) return;
  // (while a container still names the default rootfs none of them can go: no wait for the lock, no claim to have
  // removed them; sweepLeftovers looks again under it)
  if (!replacedTrees().length || inUse(dir)) return;
  await withLock(buildLock(), () => {
    sweepLeftovers(dir);
  });
}

/** The trees `run rootfs --default` replaced and kept, still there (what a teardown's sweep may leave). */
export function replacedTrees(): string[] {
  const dir = resolve(defaultRootfsDir());
  try {
    return readdirSync(dirname(dir)).filter((e) => e.startsWith(`${basename(dir)}.replaced-`)).map((e) => join(dirname(dir), e));
  } catch {
    return [];
  }
}

/**
 * sweepLeftovers of the default rootfs under its build lock (`run gc`, after its teardowns, which
 * leave the replaced trees to it: it reports what it removes). A dry run counts what gc would
 * have removed by then as gone (`going`).
 */
export function sweepDefaultRootfs(dryRun: boolean, going?: Going): Promise<string[]> {
  const dir = defaultRootfsDir();
  if (!existsSync(dirname(dir))) return Promise.resolve([]);
  return Promise.resolve(withLockSync(buildLock(), () => sweepLeftovers(dir, dryRun, going)));
}

/**
 * buildBusyboxRootfs as shell lines a user could paste (--dry-run): built in
 * place, and the applets' links made by busybox itself (the same links:
 * one to /bin/busybox in its own directory for each applet).
 */
export function busyboxRootfsShell(dir: string, busybox = findBusybox()): string[] {
  const at = (p: string) => shellQuote([join(dir, p)]);
  return [
    ...skeletonShell(dir),
    `mkdir -p ${APPLET_DIRS.map(at).join(' ')}`,
    shellQuote(['cp', busybox, join(dir, 'bin', 'busybox')]),
    `chmod 755 ${at('bin/busybox')}`,
    `chroot ${shellQuote([dir])} /bin/busybox --install -s`,
  ];
}

/** The default rootfs, built on first use (under a lock: concurrent first runs build it once). */
export async function ensureDefaultRootfs(rebuild = false): Promise<{ dir: string; built: boolean }> {
  const dir = defaultRootfsDir();
  if (!rebuild && existsSync(join(dir, 'bin', 'busybox'))) return { dir, built: false };
  return withLockSync(buildLock(), () => {
    if (!rebuild && existsSync(join(dir, 'bin', 'busybox'))) return { dir, built: false };
    build(dir, findBusybox(), true);
    return { dir, built: true };
  });
}
