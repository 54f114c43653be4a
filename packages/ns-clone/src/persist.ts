/**
 * Keeping a namespace alive after its last process: bind-mount its file
 * (/proc/PID/ns/X) onto a path, as `unshare --net=PATH` and `ip netns add` do.
 * `umount PATH && rm PATH` (or `ip netns del` under /run/netns) removes it.
 */
import { closeSync, constants, existsSync, fstatSync, lstatSync, openSync, rmdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { dirname } from 'node:path';
import { mount, moveMountTo, openTreeClone, statxMount, umountIfMounted, MS, NAMESPACES, SysError, type MountStat } from '@boxkit/native';
import { BoxkitError } from '@boxkit/common/errors';
import { createInMadeParent, realPathOfPrefix, removeMadeDirs } from '@boxkit/common/dirs';
import { flockUntilSync } from '@boxkit/common/state';
import { readMountinfo, type MountEntry } from '@boxkit/common/mountinfo';
import { shellQuote } from '@boxkit/common/exec';
import type { NsPath } from './spec.js';

/** What persisting made, so that an undo removes that and nothing the user had before. */
export interface Persisted {
  path: string;
  /** The file did not exist: it was made for the bind mount. */
  madeFile: boolean;
  /** The first directory `mkdir -p` made for it, if any. */
  madeDir?: string;
  /**
   * The namespace bound there (st_dev and st_ino of PATH once mounted: the
   * nsfs inode, as `ls -iL /proc/PID/ns/net` shows it, taken there before
   * the mount so that a record can name it first), so that an undo
   * made later, by another process (`release --abort` of a detached child),
   * takes back that namespace and never one bound there since.
   */
  dev?: number;
  ino?: number;
  /**
   * The bind itself (its mount), known before it is attached at PATH: the
   * bind is made in two steps (open_tree, then move_mount), and the record
   * names it in between. A take-back unmounts PATH only while this very
   * mount is there: the kernel gives a namespace made after one has gone its
   * inode number (at once), so dev and ino alone took a namespace the user
   * bound at PATH since for this one, and unmounted it. Undefined (a kernel
   * without open_tree, before 5.2, or without statx's mount id, before 5.8:
   * bound by mount(2); a record of an older ns-clone): another process's take-back
   * never unmounts it, and removes only an empty file; the start's own undo
   * (undoPersist) does, while PATH shows its namespace (ownBindOnTop).
   */
  mount?: BoundMount;
}

/**
 * A bind's identity: statx's mount id of PATH. Since Linux 6.8 the mount's
 * unique 64-bit id (STATX_MNT_ID_UNIQUE), never another mount's (until
 * reboot). Before, mountinfo's id, which the kernel gives the next mount
 * made once this one is gone (the lowest free: a bind made again at PATH
 * often gets it), so the nsfs inode's ctime is noted too: the kernel stamps
 * that inode when it makes it, at the first open of the namespace's file,
 * and the bind keeps it. What that can still miss: a namespace bound at
 * PATH after ours was unmounted, with our inode number and mount id, whose
 * nsfs inode was made in the same clock tick (jiffy) as ours, or had its
 * times set back to ours (touch -d on PATH).
 */
export interface BoundMount {
  /** stx_mnt_id, decimal. */
  id: string;
  /** The unique id (6.8+); else mountinfo's, with `ctime`. */
  unique?: true;
  /** The nsfs inode's stx_ctime in ns (decimal), with a reusable id. */
  ctime?: string;
}

/** The identity of a mount, from statx of its fd or of a path on it. */
const mountOf = (s: MountStat): BoundMount => (s.unique ? { id: s.mntId, unique: true } : { id: s.mntId, ctime: s.ctimeNs });

/**
 * The mounts at PATH, by the name mountinfo gives it: the symlinks above it
 * resolved (/var/run/netns/X is /run/netns/X here; compared as typed, a bind
 * there was never found, and one just made was taken for another's).
 */
function mountsAt(path: string): MountEntry[] {
  const at = realPathOfPrefix(path);
  return readMountinfo().filter((m) => m.mountpoint === at);
}

const isMountpoint = (path: string): boolean => mountsAt(path).length > 0;

/**
 * The namespace bound lowest at PATH (its nsfs inode, from mountinfo's root
 * field, `net:[4026532249]`): the first of binds stacked there. Two starts
 * binding one PATH at once both pass the check before the mount; the later
 * bind stacks on the first (its parent mount is the first's) and hides it.
 */
function lowestBoundIno(path: string): number | undefined {
  const at = mountsAt(path);
  const ids = new Set(at.map((m) => m.id));
  const lowest = at.find((m) => !ids.has(m.parent));
  const ino = lowest && /:\[(\d+)\]$/.exec(lowest.root);
  return ino ? Number(ino[1]) : undefined;
}

/**
 * Bind the namespace of `pid` at `p.path`. `beforeBind` is called with what
 * this persist made (the file, its directories, the namespace's identity:
 * the nsfs inode of /proc/PID/ns/X is the one PATH shows once bound, and the
 * bind's own, `mount`: made first, attached nowhere) just before the bind is
 * attached at PATH: a detached start notes it in its record there, so that a
 * kill -9 at any moment leaves a record that takes back what it made, and
 * only that (killed before the attach, the bind goes with the process).
 *
 * The file at PATH is held under an flock from before the check that nothing
 * is bound there until the bind is made (or undone): a take-back of a start
 * killed at mount(2) (undoUnbound) removes PATH's empty file only under that
 * lock, so never the file another start is binding at that moment.
 */
export function persistNamespace(pid: number, p: NsPath, beforeBind?: (made: Persisted) => void): Persisted {
  const fail = (why: string, hint?: string) =>
    new BoxkitError('EPERSIST', `persist ${p.kind} namespace at ${p.path}: ${why}`, hint ? { hint } : {});
  // a second bind would hide the first namespace under it (and open() of an nsfs file is EPERM)
  if (isMountpoint(p.path)) throw fail('a namespace is already bound there', `umount ${p.path} first (ip netns del, under /run/netns), or pick another path`);
  const source = `/proc/${pid}/ns/${NAMESPACES[p.kind].file}`;
  let ns;
  try {
    ns = statSync(source);
  } catch (e) {
    throw fail((e as Error).message);
  }
  const held = holdFile(p.path, fail);
  const made: Persisted = { path: p.path, madeFile: held.madeFile, dev: ns.dev, ino: ns.ino, ...(held.madeDir ? { madeDir: held.madeDir } : {}) };
  let tree: number | undefined;
  try {
    try {
      tree = openTreeClone(source);
      made.mount = mountOf(statxMount(tree));
    } catch (e) {
      if (tree !== undefined) closeSync(tree);
      tree = undefined;
      // a kernel without open_tree (before 5.2) or without statx's mount id (5.8), or a seccomp filter that refuses
      // open_tree: bound by mount(2), its identity unknown (a take-back never unmounts it)
      if (!(e instanceof SysError && (e.code === 'ENOSYS' || e.code === 'EPERM'))) {
        removeHeld(made);
        throw fail((e as Error).message);
      }
    }
    try {
      beforeBind?.({ ...made });
    } catch (e) {
      removeHeld(made);
      throw e;
    }
    try {
      if (tree !== undefined) moveMountTo(tree, p.path);
      else {
        mount(source, p.path, null, MS.BIND);
        const m = mountAfter(p.path, ns);
        if (m) made.mount = m;
      }
    } catch (e) {
      removeHeld(made);
      const hint = p.kind === 'mnt' ? 'a mount namespace can only be bound where propagation is private: mount --make-private on the directory first' : undefined;
      throw fail((e as Error).message, hint);
    }
  } finally {
    if (tree !== undefined) closeSync(tree); // (attached, the bind stays; else it goes with the fd)
    closeSync(held.fd); // (the lock goes with it: PATH is bound, or undone)
  }
  // another start bound PATH at the same time: the first bind stays; a later one (this) takes its own off, and leaves
  // the file, the first's (no nsfs root to read there: what PATH shows now says whose bind is on top). The lowest is
  // told by its namespace's inode number: this start's namespace lives (its child and this bind hold it), and no other
  // has that number meanwhile. What is taken off is told by this bind's mount (stillPersisted), never whatever is on
  // top: a bind made over this one since (by hand, or a start on a file system without flock) is someone else's, and
  // was unmounted in its place; this one is then left there, under it
  const lowest = lowestBoundIno(p.path) ?? statSync(p.path).ino;
  if (lowest !== ns.ino) {
    const onTop = ownBindOnTop(made);
    if (onTop) umountIfMounted(p.path, true);
    throw fail('a namespace is already bound there (bound by another start at the same time)', onTop
      ? `pick another path, or umount ${p.path} first`
      : `this start's own bind is left at ${p.path}, under one bound over it since: umount ${p.path} takes off the top one`);
  }
  return made;
}

/** How long a start waits for another holding PATH's lock (a start binding it: its record and mount take ms). */
const LOCK_WAIT_MS = 10_000;

/**
 * PATH's file (made, with its directories, when missing), open and locked
 * (flock LOCK_EX), and still the file at PATH once locked: a take-back
 * that removed it (and its directories) between our open and our lock
 * makes us make it again. A start that held the lock and bound PATH
 * meanwhile: refused, as bound by another start at the same time.
 */
function holdFile(path: string, fail: (why: string, hint?: string) => BoxkitError): { fd: number; madeFile: boolean; madeDir?: string } {
  const dirs: string[] = [];
  for (let tries = 0; ; tries++) {
    let fd = -1;
    let madeFile = false;
    try {
      createInMadeParent(path, () => {
        madeFile = !existsSync(path);
        fd = openSync(path, 'a');
      }, dirs);
    } catch (e) {
      removeMadeDirs(dirs);
      throw fail((e as Error).message.replace(/, open '.*'$/, ''));
    }
    let same = false;
    try {
      lockFile(fd, path);
      const st = fstatSync(fd);
      const now = statSync(path);
      same = now.ino === st.ino && now.dev === st.dev;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        closeSync(fd);
        if (madeFile) rmSync(path, { force: true });
        removeMadeDirs(dirs);
        throw e instanceof BoxkitError ? e : fail((e as Error).message);
      }
    }
    if (same) return { fd, madeFile, ...(dirs[0] ? { madeDir: dirs[0] } : {}) };
    closeSync(fd);
    if (isMountpoint(path)) {
      removeMadeDirs(dirs);
      throw fail('a namespace is already bound there (bound by another start at the same time)', `pick another path, or umount ${path} first`);
    }
    if (tries === 9) {
      removeMadeDirs(dirs);
      throw fail('the file there was removed again and again while this start made it');
    }
  }
}

/** flock(fd, LOCK_EX), waiting up to LOCK_WAIT_MS; a file system without flock (ENOLCK, EINVAL) is bound unlocked, as before. */
function lockFile(fd: number, path: string): void {
  let held: boolean;
  try {
    held = flockUntilSync(fd, Date.now() + LOCK_WAIT_MS, path);
  } catch {
    return;
  }
  if (!held) throw new BoxkitError('EBUSY', `persist at ${path}: another process holds the file's lock (flock) for over ${LOCK_WAIT_MS / 1000} s`, { hint: 'another start binding a namespace there, stopped? (fuser, lslocks)' });
}

/**
 * Undo a persist, from the start that made it (a failure after its bind, a
 * command that never ran): PATH is unmounted only while the bind on top
 * there is the one this persist made (ownBindOnTop), and the file and
 * directories it made go only while PATH is that empty file with nothing
 * bound on it. What was put there since stays: a namespace the user bound at
 * PATH meanwhile (it was unmounted, and its file removed), another `ip netns
 * add` under a /run/netns made for this one. Unlike another process's
 * take-back (takeBack), a bind whose mount is unknown (mount(2), no statx
 * mount id: before 5.8) is unmounted too while PATH shows this persist's
 * namespace: its undo left it bound, and its file, with no word.
 */
export function undoPersist(p: Persisted): void {
  takeBack(p, ownBindOnTop)?.run();
}

/**
 * Is the bind on top at PATH the one this start's persist made? By its
 * mount where noted (stillPersisted); else (bound by mount(2) where statx
 * gives no mount id) by PATH showing this persist's namespace (its nsfs dev
 * and inode). For this start's own use only (its bind just made, or its
 * undo): while its bind is there, that bind holds the namespace, and no
 * other has its inode number. Taken off since (umount PATH) with the child
 * dead (the undo runs once it is reaped), nothing holds it: its number is
 * freed (a network namespace's once its cleanup ran) and the kernel gives
 * it to the next namespace made, so one bound at PATH in the moment between
 * the child's death and this look is taken for this one. Never for another
 * process's take-back (a record read later): there that moment is any time.
 */
function ownBindOnTop(p: Persisted): boolean {
  if (p.mount) return stillPersisted(p);
  if (p.ino === undefined || p.dev === undefined) return false;
  try {
    const st = statSync(p.path);
    return st.ino === p.ino && st.dev === p.dev && isMountpoint(p.path);
  } catch {
    return false;
  }
}

/**
 * What taking back a persist's bind does, as shell lines and as done: the
 * bind unmounted while it is still the one the persist made (stillPersisted:
 * never one bound at PATH since), then the empty file and directories made
 * for it removed under PATH's lock (undoBound); the bind gone or never
 * made, only those (undoUnbound). Undefined when nothing of it is left to
 * take back. `run` returns a reason when PATH is left to another start
 * binding it at that moment (it holds PATH's lock). `ours` tells whether the
 * bind there is the persist's: another process's take-back trusts only its
 * noted mount (stillPersisted); its own start's undo, ownBindOnTop.
 */
export function takeBack(p: Persisted, ours: (p: Persisted) => boolean = stillPersisted): { shell: string[]; unmounts: boolean; run(): string | void } | undefined {
  if (ours(p)) return { shell: undoPersistShell(p), unmounts: true, run: () => undoBound(p) };
  const left = undoUnbound(p);
  return left && { ...left, unmounts: false };
}

/**
 * A persist that failed before its bind was attached, its PATH's file still
 * locked (by this process: removeUnbound's own flock would find it held):
 * the file and directories it made go while PATH is that empty file with
 * nothing mounted there (something bound there since, by hand, stays).
 */
function removeHeld(p: Persisted): void {
  if (emptyUnbound(p.path)) removeMade(p);
}

/**
 * The identity of the bind mount(2) just made at PATH (a kernel without
 * open_tree, or a filter refusing it), when statx gives a mount id and PATH
 * shows namespace `ns` (alive: its nsfs inode number is no other
 * namespace's), so that this start's own undo unmounts it only while it is
 * there; undefined otherwise (statx without a mount id, before 5.8: its
 * own undo goes by PATH's namespace, ownBindOnTop; another process's
 * take-back never unmounts it).
 */
function mountAfter(path: string, ns: { dev: number; ino: number }): BoundMount | undefined {
  try {
    const s = statxMount(path);
    return s.ino === ns.ino && s.dev === ns.dev ? mountOf(s) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Take back a bind that stillPersisted found (another process's undo: a
 * release --abort, a sweep): unmount it, then remove the file and
 * directories made for it as undoUnbound does, under PATH's lock, while it
 * is the empty file nothing is bound on: another start may be binding that
 * very file the moment it is unmounted (it holds the lock: PATH is left to
 * it, and the reason returned, as removeUnbound).
 */
function undoBound(p: Persisted): string | void {
  umountIfMounted(p.path, true);
  if (p.madeFile || p.madeDir) return removeUnbound(p);
}

/** undoPersist as shell lines (a dry run of it): the directories go only while empty. */
function undoPersistShell(p: Persisted): string[] {
  const rm = removeMadeShell(p);
  return [`umount -l ${shellQuote([p.path])}${rm.length ? ` && ${rm[0]}` : ''}`, ...rm.slice(1)];
}

/** Remove the file and directories a persist made (its bind gone, or never made). */
function removeMade(p: Persisted): void {
  if (p.madeFile || p.madeDir) rmSync(p.path, { force: true });
  if (p.madeDir) removeEmptyUpTo(dirname(p.path), p.madeDir);
}

function removeMadeShell(p: Persisted): string[] {
  if (!p.madeFile && !p.madeDir) return [];
  const lines = [shellQuote(['rm', '-f', p.path])];
  if (p.madeDir) {
    const dirs: string[] = [];
    for (let d = dirname(p.path); d === p.madeDir || d.startsWith(`${p.madeDir}/`); d = dirname(d)) dirs.push(d);
    lines.push(shellQuote(['rmdir', '--ignore-fail-on-non-empty', ...dirs]));
  }
  return lines;
}

/**
 * What a persist whose bind never happened (its start killed at mount(2),
 * after its record was written) left: the empty file and directories it
 * made, while PATH is still that (an empty regular file, nothing mounted
 * there), as an undo without the umount; undefined when there is nothing of
 * it to take back. (Left, the file was taken for the user's by the next
 * start at PATH.) The run looks again, under the file's lock (flock, which
 * a start binding PATH holds from its check to its bind): another start
 * binding that same file now keeps it, and the run says so (a string: the
 * caller keeps the record for the next sweep, when PATH will be bound).
 */
function undoUnbound(p: Persisted): { shell: string[]; run(): string | void } | undefined {
  if (!p.madeFile && !p.madeDir) return undefined;
  if (!emptyUnbound(p.path)) return undefined;
  return { shell: removeMadeShell(p), run: () => removeUnbound(p) };
}

/** Is PATH an empty regular file (no symlink followed) with nothing mounted there? */
function emptyUnbound(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isFile() && st.size === 0 && !isMountpoint(path);
  } catch {
    return false;
  }
}

/** undoUnbound's run: PATH removed under its lock, while still the empty file nothing is bound on; a string when another holds the lock. */
function removeUnbound(p: Persisted): string | void {
  if (!emptyUnbound(p.path)) return;
  let fd: number;
  try {
    fd = openSync(p.path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch {
    return; // gone meanwhile (or no longer a file to open)
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile() || st.size !== 0) return;
    let held = true;
    try {
      held = flockUntilSync(fd, 0, p.path);
    } catch {
      // (a file system without flock: looked at as before, without the lock)
    }
    if (!held) return `another start is binding a namespace at ${p.path}`;
    // under the lock: PATH still this file, and nothing bound there (a start that held the lock bound it meanwhile)
    const now = lstatSync(p.path, { throwIfNoEntry: false });
    if (!now || now.ino !== st.ino || now.dev !== st.dev || isMountpoint(p.path)) return;
    unlinkSync(p.path);
  } finally {
    closeSync(fd);
  }
  if (p.madeDir) removeEmptyUpTo(dirname(p.path), p.madeDir);
}

/** rmdir `dir`, then its parents up to and including `top`, stopping at the first that is not empty. */
function removeEmptyUpTo(dir: string, top: string): void {
  for (let d = dir; d === top || d.startsWith(`${top}/`); d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

/**
 * Is the bind at PATH still the one this persist made (its mount: see
 * BoundMount)? False once it was unmounted (`umount PATH`, `ip netns del`),
 * when another was bound there since (even of a namespace given our
 * namespace's inode number again), and for a bind whose mount was never
 * noted (made by mount(2), or never made).
 */
export function stillPersisted(p: Persisted): boolean {
  const m = p.mount;
  if (!m || p.ino === undefined || p.dev === undefined) return false;
  try {
    const now = statxMount(p.path, !!m.unique);
    if (m.unique) return now.unique && now.mntId === m.id;
    return now.mntId === m.id && now.ino === p.ino && now.dev === p.dev && now.ctimeNs === m.ctime && isMountpoint(p.path);
  } catch {
    return false;
  }
}
