/**
 * Plan a union mount: check everything the kernel would refuse (or that
 * would silently do the wrong thing) before anything changes, then list
 * the steps as data. Bad input throws UsageError (exit 2) from here.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, basename, join } from 'node:path';
import { BoxkitError, UsageError, dataDir } from '@boxkit/common';
import { MS } from '@boxkit/native';
import { DRIVERS, MAX_LOWERS, MAX_OPTIONS, kernelFilesystems, pickDriver } from './drivers.js';
import { blockedPath, existingAncestor, fileStamp, inside, realPath, sameDir, statOrUndefined } from './paths.js';
import { MOUNT_FLAGS, normalize, type DriverName, type UnionOptions } from './spec.js';
import { fsError, unreachable } from './fserror.js';
import { findUnion, listUnions, mountOf, mountOptionsAt, readMountinfo, type MountEntry } from './mountinfo.js';

export interface MountCall {
  source: string;
  target: string;
  fstype: string;
  flags: number;
  data: string;
}

/** Plan steps: plain data; apply.ts gives each its syscall, shell line and undo. */
export type UnionStep =
  | { kind: 'mkdir'; path: string }
  /** stamp: the tarball as it was hashed (paths.ts fileStamp); extraction refuses it changed since */
  | { kind: 'extract'; tar: string; dir: string; stamp?: string }
  | ({ kind: 'mount' } & MountCall);

export interface UnionPlan {
  driver: DriverName;
  /** What the user asked for: auto, overlay or aufs. */
  requested: string;
  /** The request used aufs syntax (br=, --branch). */
  aufsSyntax: boolean;
  mountpoint: string;
  /** Lower layers, topmost first, absolute (extracted tarballs included). */
  lowers: string[];
  /** The layer tarballs among the lowers (they come first) and where each is extracted. */
  layerTars: { tar: string; dir: string }[];
  upper?: string;
  work?: string;
  readonly: boolean;
  udba?: string;
  /** overlay's volatile option (no sync of the upper). */
  volatile: boolean;
  /** Generic mount flags by name (nodev, nosuid, noexec, noatime). */
  mountFlags: string[];
  mount: MountCall;
  steps: UnionStep[];
  /** The one line for stderr when aufs syntax is carried out with overlay. */
  notice?: string;
  /** The same union is already mounted there: nothing to do. */
  already: boolean;
}

/** mount(8) option names of the generic flags, and their mount(2) bits. */
export const FLAG_BITS: Record<string, number> = { ro: MS.RDONLY, nodev: MS.NODEV, nosuid: MS.NOSUID, noexec: MS.NOEXEC, noatime: MS.NOATIME };

export interface PlanEnv {
  /** Filesystems the kernel has (default: /proc/filesystems). */
  filesystems?: Set<string>;
  cwd?: string;
  /** mountinfo to check for an existing union (default: /proc/self/mountinfo). */
  mountinfo?: string;
}

/** A directory there, or one a mkdir -p can make (a file or a dangling symlink on the way is refused now, not at mkdir). */
function dirOrMissing(what: string, p: string): 'dir' | 'missing' {
  const st = statOrUndefined(p);
  if (st && !st.isDirectory()) throw new UsageError(`${what} ${p}: not a directory`);
  if (st) return 'dir';
  const blocked = blockedPath(p);
  if (blocked) throw new UsageError(`${what} ${p}: ${blocked}`);
  return 'missing';
}

/**
 * overlay takes a work dir only on the upper's own mount (the kernel says
 * EINVAL otherwise, and the reason only in dmesg): compare where each would
 * be made, before anything is.
 */
function sameMount(upper: string, work: string, workGiven: boolean, mounts: () => MountEntry[]): void {
  const u = existingAncestor(upper), w = existingAncestor(work);
  const hint = workGiven
    ? 'overlay needs the work dir on the same mount as the upper: give a --work dir beside the upper'
    : `${upper} is a mount point, so its default work dir beside it is outside that mount: use a subdirectory of that mount as the upper (its work dir then goes beside it, on the same mount)`;
  if (u.st.dev !== w.st.dev) throw new UsageError(`work dir ${work} and upper ${upper} are on different filesystems`, hint);
  const um = mountOf(u.path, mounts()), wm = mountOf(w.path, mounts());
  if (um && wm && um.id !== wm.id) {
    throw new UsageError(`work dir ${work} and upper ${upper} are on different mounts (${wm.mountpoint} and ${um.mountpoint})`, hint);
  }
}

/**
 * The content address of a layer tarball, and its stamp while it was
 * hashed: the extraction reads the file again later, and under this address
 * must find the same bytes (a later run of the same layer takes the dir
 * as it is).
 */
export function hashLayer(tar: string): { dir: string; stamp: string } {
  // node:crypto costs ~10 ms to load: only a mount with --lower-tar pays it
  const { createHash } = createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  // read a block at a time: a layer can be larger than one Buffer (2 GiB), and need not sit in memory
  const hash = createHash('sha256');
  let fd: number | undefined;
  let stamp: string;
  try {
    fd = openSync(tar, 'r');
    stamp = fileStamp(fd);
    const buf = Buffer.allocUnsafe(1 << 20);
    for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) hash.update(buf.subarray(0, n));
    if (fileStamp(fd) !== stamp) throw new BoxkitError('ECHANGED', `lower tarball ${tar} changed while it was hashed`, { hint: 'mount it again once nothing writes to it' });
  } catch (e) {
    // (an NFS export that squashes root, a disk error: Node's own text names neither the tarball nor a way out)
    const perm = 'give a tarball this user can read (or run as root)';
    throw fsError(e, `cannot read lower tarball ${tar}`, { EACCES: perm, EPERM: perm });
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return { dir: dataDir('unionfs', 'layers', hash.digest('hex')), stamp };
}

export function planUnion(opts: UnionOptions, env: PlanEnv = {}): UnionPlan {
  const spec = normalize(opts);
  const cwd = env.cwd; // (realPath reads process.cwd() for relative paths only)
  // read once, when first needed: run plans a union on every container start
  let read: MountEntry[] | undefined;
  const mounts = () => (read ??= readMountinfo(env.mountinfo));
  const fs = env.filesystems ?? kernelFilesystems();
  const driver = pickDriver(spec.driver, fs);
  if (!fs.has(DRIVERS[driver].fstype)) {
    throw new BoxkitError('ENODEV', `driver ${driver}: this kernel has no ${DRIVERS[driver].fstype} filesystem`, {
      hint: `use --driver auto (picks ${fs.has('overlay') ? 'overlay' : 'what the kernel has'})`,
    });
  }
  if (spec.volatile && driver !== 'overlay') throw new UsageError('--volatile is an overlay option', 'use --driver overlay');
  const steps: UnionStep[] = [];

  const layerTars: { tar: string; dir: string }[] = [];
  for (const t of spec.lowerTars) {
    const tar = realPath(t, cwd);
    const st = statOrUndefined(tar);
    if (!st?.isFile()) throw unreachable(tar, 'lower tarball') ?? new UsageError(`lower tarball ${tar}: no such file`);
    const { dir, stamp } = hashLayer(tar);
    // one layer dir cannot be extracted twice, nor stacked twice (as a --lower given twice)
    const same = layerTars.find((t) => t.dir === dir);
    if (same) throw new UsageError(`lower tarball ${tar} ${same.tar === tar ? 'is given twice' : `holds the same layer as ${same.tar}`}`);
    if (!statOrUndefined(dir)) steps.push({ kind: 'extract', tar, dir, stamp });
    layerTars.push({ tar, dir });
  }
  const lowers = layerTars.map((t) => t.dir);
  for (const l of spec.lowers) {
    const p = realPath(l, cwd);
    if (dirOrMissing('lower layer', p) === 'missing') throw unreachable(p, 'lower layer') ?? new UsageError(`lower layer ${p}: no such directory`);
    if (lowers.includes(p)) throw new UsageError(`lower layer ${p} is given twice`);
    lowers.push(p);
  }
  if (lowers.length > MAX_LOWERS) throw new UsageError(`too many layers: ${lowers.length} (overlay stacks at most ${MAX_LOWERS})`);

  const upper = spec.upper ? realPath(spec.upper, cwd) : undefined;
  // a work dir is overlay's alone: aufs would be left one it never uses
  if (spec.work && driver !== 'overlay') throw new UsageError('--work is an overlay option', 'aufs keeps no work dir: drop --work');
  const work = upper && driver === 'overlay' ? (spec.work ? realPath(spec.work, cwd) : join(dirname(upper), `${basename(upper)}.work`)) : undefined;
  if (upper) {
    for (const l of lowers) {
      if (inside(upper, l)) throw new UsageError(`upper ${upper} is ${upper === l ? 'the same as' : 'inside'} lower layer ${l}`, 'the upper must be a directory of its own, outside every lower layer');
      if (inside(l, upper)) throw new UsageError(`lower layer ${l} is inside upper ${upper}`);
      if (work && inside(work, l)) throw new UsageError(`work dir ${work} is inside lower layer ${l}`);
    }
    if (work && (inside(work, upper) || inside(upper, work))) throw new UsageError(`work dir ${work} and upper ${upper} overlap`, 'give a --work dir beside the upper, not inside it');
    const dirs: [string, string][] = [['upper', upper], ...(work ? [['work dir', work] as [string, string]] : [])];
    const missing = dirs.filter(([what, p]) => dirOrMissing(what, p) === 'missing');
    for (const [, p] of missing) steps.push({ kind: 'mkdir', path: p });
  } else if (spec.volatile) {
    throw new UsageError('--volatile needs an --upper', 'volatile only changes how the upper is synced');
  } else if (lowers.length < 2) {
    throw new UsageError('a read-only union needs at least two lower layers (overlay refuses one)', 'add --upper DIR (with --readonly to keep it read-only), or bind-mount the single layer: mount --bind -o ro');
  }

  const mountpoint = realPath(spec.mountpoint, cwd);
  if (lowers.includes(mountpoint) || mountpoint === upper || mountpoint === work) {
    throw new UsageError(`mount point ${mountpoint} is one of the layers`);
  }
  if (dirOrMissing('mount point', mountpoint) === 'missing') steps.push({ kind: 'mkdir', path: mountpoint });

  const layers = { lowers, ...(upper ? { upper } : {}), ...(work ? { work } : {}), ...(spec.udba ? { udba: spec.udba } : {}), volatile: spec.volatile };
  const data = DRIVERS[driver].options(layers);
  if (driver === 'overlay' && Buffer.byteLength(data) > MAX_OPTIONS) {
    throw new UsageError(
      `too many layers for one mount option: ${Buffer.byteLength(data)} bytes > ${MAX_OPTIONS} (${lowers.length} lower layers)`,
      'use fewer or shorter layer paths, or squash layers: unionfs commit + --lower-tar',
    );
  }
  const flags = spec.flags.reduce((f, name) => f | FLAG_BITS[name]!, spec.readonly ? MS.RDONLY : 0);
  const mount: MountCall = { source: DRIVERS[driver].source, target: mountpoint, fstype: DRIVERS[driver].fstype, flags, data };

  // after the plan's data, so run's snapshot warm-up (no mountinfo) still runs all of that
  if (driver === 'overlay' && upper && work) sameMount(upper, work, spec.work !== undefined, mounts);
  const existing = findUnion(mountpoint, mounts());
  // overlay only warns in dmesg when an upper or work dir serves two unions, and both then misbehave
  // by inode, not spelling: mountinfo names them as whoever mounted them did (a bind mount, a symlink)
  const usesUpper = (u: { upper?: string }) => !!u.upper && sameDir(upper!, u.upper);
  // a hidden union counts: it still writes to its upper (only the one at the top here may be this same union)
  const sharing = upper ? listUnions(mounts()).find((u) => u.id !== existing?.id && (usesUpper(u) || (!!work && !!u.work && sameDir(work, u.work)))) : undefined;
  if (sharing) {
    const what = usesUpper(sharing) ? `upper ${upper}` : `work dir ${work}`;
    const hidden = sharing.hiddenBy !== undefined ? ` (hidden by the mount at ${sharing.hiddenBy})` : '';
    throw new BoxkitError('EBUSY', `${what} is in use by the union at ${sharing.mountpoint}${hidden}`, {
      hint: hidden
        ? `give this union an upper of its own, or unmount ${sharing.hiddenBy} and then unionfs umount ${sharing.mountpoint}`
        : `give this union an upper of its own, or unionfs umount ${sharing.mountpoint} first`,
    });
  }
  // the kernel leaves this behind after a volatile mount and refuses the
  // upper until it is gone, since a crash may have left the upper half-written
  const mark = work && join(work, 'work', 'incompat', 'volatile');
  if (mark && !existing && statOrUndefined(mark)) {
    throw new BoxkitError('EINVAL', `upper ${upper} was mounted with --volatile before: overlay refuses it until ${mark} is removed`, {
      hint: `after a clean unmount (or if its contents do not matter) remove ${mark}`,
    });
  }
  let already = false;
  if (existing) {
    const same = existing.driver === driver && existing.upper === upper && existing.lowers.join(':') === lowers.join(':')
      && existing.readonly === (spec.readonly || !upper);
    if (!same) {
      throw new BoxkitError('EBUSY', `mount ${mountpoint}: another union is mounted there (${existing.lowers.join(':')})`, {
        hint: `unionfs umount ${mountpoint} first`,
      });
    }
    // nodev, nosuid, noexec are what a user counts on: "already mounted" without them would be a lie
    const there = mountOptionsAt(mountpoint, mounts()).filter((o) => (MOUNT_FLAGS as readonly string[]).includes(o));
    const extra = there.filter((f) => !spec.flags.includes(f)).sort();
    const missing = spec.flags.filter((f) => !there.includes(f)).sort();
    if (extra.length || missing.length) {
      const how = [...(extra.length ? [`with ${extra.join(', ')}`] : []), ...(missing.length ? [`without ${missing.join(', ')}`] : [])].join(' and ');
      throw new BoxkitError('EBUSY', `mount ${mountpoint}: the same union is mounted there ${how}`, {
        hint: `unionfs umount ${mountpoint} first, then mount it with the flags you want`,
      });
    }
    already = true;
  }
  steps.push({ kind: 'mount', ...mount });

  const notice = spec.aufsSyntax && driver === 'overlay'
    ? `aufs is not in this kernel: mounting the branches with overlay (lowerdir=${lowers.join(':')}${upper ? `, upperdir=${upper}` : ''})${spec.udba ? `; udba=${spec.udba} has no overlay equivalent and is ignored` : ''}`
    : undefined;
  return {
    driver, requested: spec.driver, aufsSyntax: spec.aufsSyntax, mountpoint, lowers, layerTars,
    ...(upper ? { upper } : {}), ...(work ? { work } : {}), readonly: spec.readonly, volatile: spec.volatile, mountFlags: spec.flags, ...(spec.udba ? { udba: spec.udba } : {}),
    mount, steps: already ? [] : steps, ...(notice ? { notice } : {}), already,
  };
}
