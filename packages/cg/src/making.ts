/**
 * A group `cg create` is making, told apart from someone else's group.
 *
 * `create` makes a group in every hierarchy, one mkdir and its writes after
 * another: killed midway (SIGKILL, an OOM kill, a reboot of the runner), it
 * leaves the group in some hierarchies only, there with default limits.
 * An existing group with other limits is refused ("exists with
 * cpu.cfs_quota_us=-1, not 50000"), so the identical re-run failed, where
 * cgcreate users expect it to finish the job.
 *
 * The limits alone cannot say whose a group is: an empty group with
 * default limits is also what `cgcreate -g cpu:x` or a systemd slice makes
 * on purpose, and a half-made one need not have default limits (killed
 * between the period and the quota). So before its first mkdir, create
 * notes the directories it is about to make in a marker under the state
 * dir (`$BOXKIT_STATE_DIR/cg/making/`, /run/boxkit: cleared at boot, as
 * the groups are), and removes it once the last write is done. A marker
 * whose writer is gone names a half-made group of ours: the next create
 * of that group takes those directories as its own (makes what is missing,
 * writes every limit, and on failure removes them as its own), unless
 * processes joined it since (`cg exec`, `attach`: in use, no longer ours
 * to change). A group without a marker is judged by its limits, as before;
 * `cg set` and `cg rm` of the group drop its marker (`set` before writing a
 * limit: where the lock stays held, it fails and changes nothing; `rm`
 * warns that the marker may be left). The marker is made
 * with link(2), so it is there whole or not at all, and taken (or a dead
 * writer's adopted) under an flock of a lock file beside the markers
 * (`making/.lock`, 0600: a user who could open it could hold it and stall
 * every create), so at most one create of a group runs at a time: a second
 * waits for the first (its marker's writer alive) instead of judging a group
 * still being made. The lock is tried, never waited on: held past the
 * deadline (a create stopped with SIGSTOP while it looked), create goes on
 * without a marker, as where the state dir cannot hold one. A wait for the
 * lock past 1 s is said once, in one line naming it.
 */
import { existsSync, lstatSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BoxkitError, warn } from '@boxkit/common';
import { atomicWrite, createExclusive, removeFile, stateDir, sweepAsides, tryLockUntilSync, writerGone } from '@boxkit/common/state';
import { sleepSync } from '@boxkit/common/sleep';
import { hashHex } from '@boxkit/common/hash';
import type { Group } from './group.js';

interface Marker {
  pid: number;
  name: string;
  /** The directories that create makes (outermost first). */
  dirs: string[];
}

/**
 * The marker of a group: one per set of directories (a name under another
 * --parent is another group). Root's live under /run/boxkit (or
 * $BOXKIT_STATE_DIR); another user's (a delegated subtree) under
 * $XDG_RUNTIME_DIR/boxkit, and without one there is none (create works as
 * it did without markers).
 */
export function markerPath(g: Group): string | undefined {
  const name = `${hashHex(g.dirs.map((d) => d.path).join('\n'))}.json`;
  if (process.env.BOXKIT_STATE_DIR || process.geteuid?.() === 0) return stateDir('cg', 'making', name);
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'boxkit', 'cg', 'making', name) : undefined;
}

function readMarker(path: string): Marker | undefined {
  try {
    const m = JSON.parse(readFileSync(path, 'utf8')) as Marker;
    return Number.isInteger(m.pid) && Array.isArray(m.dirs) ? m : undefined;
  } catch {
    return undefined;
  }
}

/** The marker's writer ended (killed) since it wrote it. A marker that cannot be read is taken for a dead one's. */
function abandoned(path: string, m: Marker | undefined): boolean {
  return !m || writerGone(path, m.pid);
}

const WAIT_MS = 10_000;

let warned = false;

/**
 * `fn` under the lock of the marker directory `dir` (an existing one), tried
 * every 20 ms until `deadline`: undefined if someone held it all along. A
 * wait past 1 s is said once (one line naming the lock), not sat out silently.
 */
function underLock<T>(dir: string, deadline: number, fn: () => T): { value: T } | undefined {
  const lock = join(dir, '.lock');
  return tryLockUntilSync(lock, deadline, fn, warned ? undefined : () => {
    warned = true;
    warn('cg', `waiting up to ${WAIT_MS / 1000}s for ${lock}, held by another process (a cg create stopped midway? see: fuser -v ${lock})`);
  });
}

export interface Making {
  /** Directories a killed create left: this create makes them as if they were not there. */
  adopt: ReadonlySet<string>;
  /** What the marker names: the directories this create makes (adopted ones included). */
  dirs: readonly string[];
  /** Remove the marker: the group is complete, or nothing of what it named is left. */
  done(): void;
}

/** No marker: where the state dir cannot hold one, create works as it did before markers. */
const NONE: Making = { adopt: new Set(), dirs: [], done: () => {} };

/** What lies at the marker's path: nothing, a marker (read, if it can be), or something create never makes. */
type Found = { kind: 'none' } | { kind: 'marker'; m: Marker | undefined } | { kind: 'other' };

function look(path: string): Found {
  try {
    // lstat: a dangling symlink is something there (link(2) fails on it), not nothing
    return lstatSync(path).isFile() ? { kind: 'marker', m: readMarker(path) } : { kind: 'other' };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'none' };
    throw e; // ENOTDIR (making/ is a file), EACCES...: an unusable state dir
  }
}

/**
 * Take the group's marker before making anything. `toMake(adopt)` says which
 * directories the plan will make, given those adopted. Nothing to make and no
 * marker: no marker is written (the group is complete, or someone else's).
 *
 * Each look at the marker and what follows (adopting a dead writer's,
 * writing ours) is one step under the lock of the marker directory, so two
 * creates that find the same dead marker cannot both adopt it: the second
 * finds the first's (alive) and waits for it. A state dir that cannot hold
 * markers (unwritable, full, its making/ a file, a symlink at the marker's
 * path) means no marker, never a failure or a wait; so does a lock held
 * past the deadline.
 */
export function beginMaking(g: Group, toMake: (adopt: ReadonlySet<string>) => string[]): Making {
  const path = markerPath(g);
  if (!path) return NONE;
  const dir = dirname(path);
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let step: { wait: number } | Making;
    try {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
      const locked = underLock(dir, deadline, () => takeMarker(g, path, toMake));
      // (held all along: a holder stopped midway; the marker is only an aid, never a wait without end)
      if (!locked) return NONE;
      step = locked.value;
    } catch {
      // the marker is an aid: where it cannot be written, create goes on without one, as before markers
      // (a kill then leaves a group the next create refuses, with the fix in its hint)
      return NONE;
    }
    if (!('wait' in step)) return step;
    if (Date.now() > deadline) {
      throw new BoxkitError('EBUSY', `group ${g.name} is being made by another cg create (pid ${step.wait}) for ${WAIT_MS / 1000}s`, {
        hint: `wait for it, or if pid ${step.wait} is stuck: kill it, then run this again (its marker: ${path})`,
      });
    }
    sleepSync(20);
  }
}

/** One look at the marker under the lock: wait for its live writer, or take it (a dead one's, or none). */
function takeMarker(g: Group, path: string, toMake: (adopt: ReadonlySet<string>) => string[]): { wait: number } | Making {
  const found = look(path);
  if (found.kind === 'other') return NONE;
  const there = found.kind === 'marker';
  const m = there ? found.m : undefined;
  if (there && !abandoned(path, m)) return { wait: m!.pid };
  // a create killed while it wrote its marker left its file aside: swept here (one readdir)
  sweepAsides(dirname(path));
  // one that holds processes since (cg exec, attach) is in use: judged by its limits, as anyone's; a
  // marker naming directories outside the group's own chains is no marker of this group
  const adopt = new Set(m && ownDirs(g, m.dirs) && !m.dirs.some(holdsProcesses) ? m.dirs : []);
  const dirs = toMake(adopt);
  const done = () => {
    try {
      removeFile(path);
    } catch {
      // a state dir turned read-only meanwhile: a marker of a complete group only makes the next create rewrite its limits
    }
  };
  if (!dirs.length) {
    if (there) done(); // a killed create that had made everything
    return NONE;
  }
  const mine = JSON.stringify({ pid: process.pid, name: g.name, dirs } satisfies Marker);
  // a dead writer's: ours now (rename over it, under the lock); none: link(2), whole or not at all
  if (there) atomicWrite(path, mine, 0o600);
  else if (!createExclusive(path, mine, 0o600)) return { wait: 0 }; // a create without the lock took it: look again
  return { adopt, dirs, done };
}

/** Does every directory lie on one of the group's own chains (its directory, or one above it within its hierarchy)? */
function ownDirs(g: Group, dirs: readonly string[]): boolean {
  return dirs.every((x) => typeof x === 'string' && g.dirs.some((d) => d.path === x || (d.path.startsWith(`${x}/`) && x.startsWith(`${d.mount}/`))));
}

function holdsProcesses(dir: string): boolean {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '';
  } catch {
    return false; // gone
  }
}

/**
 * `cg rm`, `cg set`: a removed (or now complete) group leaves no marker
 * behind (unless a create of it is running). Looked at and removed under
 * the lock: a create adopting the dead marker meanwhile has rewritten it
 * as its own (alive), which stays. False when the lock was held past the
 * deadline and a dead writer's marker may be left (the caller says so:
 * `set` fails before writing anything, `rm` warns); true otherwise.
 */
export function forgetMaking(g: Group): boolean {
  const path = markerPath(g);
  if (!path || !existsSync(path)) return true;
  try {
    return underLock(dirname(path), Date.now() + WAIT_MS, () => {
      const m = readMarker(path);
      if (m && abandoned(path, m)) removeFile(path);
    }) !== undefined;
  } catch {
    // a read-only state dir: the marker names a group that is gone, or complete (harmless)
    return true;
  }
}

/** The lock of the markers, for the messages of a forgetMaking that could not have it. */
export function makingLock(g: Group): string {
  return join(dirname(markerPath(g) ?? stateDir('cg', 'making', 'x')), '.lock');
}

/** For --dry-run: the directories a killed create left, which this one would take as its own (nothing is written). */
export function adoptable(g: Group): ReadonlySet<string> {
  const path = markerPath(g);
  const m = path ? readMarker(path) : undefined;
  return path && m && abandoned(path, m) && ownDirs(g, m.dirs) && !m.dirs.some(holdsProcesses) ? new Set(m.dirs) : new Set();
}
