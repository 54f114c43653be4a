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
 * `cg set` and `cg rm` of the group drop its marker. The marker is made
 * with link(2), so it is there whole or not at all, and at most one create
 * of a group runs at a time: a second waits for the first (its marker's
 * writer alive) instead of judging a group still being made.
 */
import { linkSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { BoxkitError } from '@boxkit/common';
import { atomicWrite, removeFile, stateDir, sweepAsides, writerGone } from '@boxkit/common/state';
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
  const name = `${hash(g.dirs.map((d) => d.path).join('\n'))}.json`;
  if (process.env.BOXKIT_STATE_DIR || process.geteuid?.() === 0) return stateDir('cg', 'making', name);
  const runtime = process.env.XDG_RUNTIME_DIR;
  return runtime ? join(runtime, 'boxkit', 'cg', 'making', name) : undefined;
}

/** 64 bits of FNV-1a, as hex (node:crypto is not in the start-up snapshot: loading it cost ~8 ms a create). */
function hash(s: string): string {
  let a = 0x811c9dc5, b = 0xcbf29ce4;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c ^ (a >>> 24), 0x01000193) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
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
const pause = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

export interface Making {
  /** Directories a killed create left: this create makes them as if they were not there. */
  adopt: ReadonlySet<string>;
  /** What the marker names: the directories this create makes (adopted ones included). */
  dirs: readonly string[];
  /** Remove the marker: the group is complete, or nothing of what it named is left. */
  done(): void;
}

/**
 * Take the group's marker before making anything. `toMake(adopt)` says which
 * directories the plan will make, given those adopted. Nothing to make and no
 * marker: no marker is written (the group is complete, or someone else's).
 */
export function beginMaking(g: Group, toMake: (adopt: ReadonlySet<string>) => string[]): Making {
  const path = markerPath(g);
  if (!path) return { adopt: new Set(), dirs: [], done: () => {} };
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    let there = true;
    let m: Marker | undefined;
    try {
      statSync(path);
      m = readMarker(path);
    } catch {
      there = false;
    }
    if (there && !abandoned(path, m)) {
      if (Date.now() > deadline) {
        throw new BoxkitError('EBUSY', `group ${g.name} is being made by another cg create (pid ${m!.pid}) for ${WAIT_MS / 1000}s`, {
          hint: `wait for it, or if pid ${m!.pid} is stuck: kill it, then run this again (its marker: ${path})`,
        });
      }
      pause(20);
      continue;
    }
    // one that holds processes since (cg exec, attach) is in use: judged by its limits, as anyone's
    const adopt = new Set(there && m && !m.dirs.some(holdsProcesses) ? m.dirs : []);
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
      return { adopt: new Set(), dirs: [], done: () => {} };
    }
    const mine: Marker = { pid: process.pid, name: g.name, dirs };
    try {
      if (there) {
        // a create killed while it wrote its marker left its file aside: the first to find a dead one sweeps
        sweepAsides(dirname(path));
        // a dead writer's: ours now (atomic rename over it)
        atomicWrite(path, JSON.stringify(mine), 0o600);
        return { adopt, dirs, done };
      }
      // exclusive: write aside, then link(2), which fails if another create took it meanwhile
      const aside = `${path}.${process.pid}.tmp`;
      mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
      try {
        writeFileSync(aside, JSON.stringify(mine), { mode: 0o600 });
        linkSync(aside, path);
        return { adopt, dirs, done };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      } finally {
        try {
          removeFile(aside);
        } catch {
          // left aside: the next create that finds a dead marker sweeps it
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      // the marker is an aid: where it cannot be written (a read-only or full state dir), create goes on
      // without one, as before markers (a kill then leaves a group the next create refuses, with the fix)
      return { adopt, dirs: [], done: () => {} };
    }
  }
}

function holdsProcesses(dir: string): boolean {
  try {
    return readFileSync(join(dir, 'cgroup.procs'), 'utf8').trim() !== '';
  } catch {
    return false; // gone
  }
}

/** `cg rm`, `cg set`: a removed (or now complete) group leaves no marker behind (unless a create of it is running). */
export function forgetMaking(g: Group): void {
  const path = markerPath(g);
  const m = path ? readMarker(path) : undefined;
  if (path && m && abandoned(path, m)) {
    try {
      removeFile(path);
    } catch {
      // a read-only state dir: the marker names a group that is gone, or complete (harmless)
    }
  }
}

/** For --dry-run: the directories a killed create left, which this one would take as its own (nothing is written). */
export function adoptable(g: Group): ReadonlySet<string> {
  const path = markerPath(g);
  const m = path ? readMarker(path) : undefined;
  return path && m && abandoned(path, m) && !m.dirs.some(holdsProcesses) ? new Set(m.dirs) : new Set();
}
