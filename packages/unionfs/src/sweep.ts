/**
 * Temporary extraction dirs (`<layer>.<pid>.tmp`, see extract.ts) left by
 * an extraction that was killed: its own cleanup never ran, so whoever
 * extracts next (or `run gc`) removes them. Only those of a process that is
 * gone: a live pid may be another extraction at work. (A pid the system has
 * since given to an unrelated process keeps its dir until that one ends too.)
 */
import { closeSync, openSync, readdirSync, rmSync } from 'node:fs';
import { flock, LOCK } from '@boxkit/native';
import { join } from 'node:path';
import { dataDir } from '@boxkit/common';
import { procStat } from '@boxkit/common/proc';

/** The layer store's extraction dirs: a sha256 (the layer's name) and the extracting pid. */
const LAYER_TMP = /^[0-9a-f]{64}\.([1-9][0-9]*)\.tmp$/;

/**
 * An extraction holds an exclusive flock of its dir (an fd of it) while it
 * writes: returns the fd, to close once the dir is renamed into place.
 */
export function holdExtraction(dir: string): number {
  const fd = openSync(dir, 'r');
  try {
    flock(fd, LOCK.EX | LOCK.NB, dir);
  } catch {
    // a file system whose flock cannot lock this fd (NFS emulates it with fcntl locks: EBADF
    // on a read-only fd): the sweep falls back to the pid alone there
  }
  return fd;
}

/** Is an extraction at work in `dir` (its flock held)? Seen from any pid namespace, unlike its pid. */
function held(dir: string): boolean {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return false;
  }
  try {
    flock(fd, LOCK.EX | LOCK.NB, dir);
    return false;
  } catch (e) {
    // only a lock someone holds says so (not a file system that cannot lock: see holdExtraction)
    return (e as { code?: string }).code === 'EWOULDBLOCK' || (e as { code?: string }).code === 'EAGAIN';
  } finally {
    closeSync(fd);
  }
}

/** Is `pid` a process that could still be extracting? Not when there is no such process, nor a zombie. */
function gone(pid: number): boolean {
  const st = procStat(pid);
  return st === undefined || st.state === 'Z' || st.state === 'X';
}

/** Remove the entries of `parent` that `pattern` matches (group 1: a pid) and whose pid is gone (`dryRun`: only say). */
function sweep(parent: string, pattern: RegExp, dryRun = false): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return []; // no store yet: nothing to sweep
  }
  const stale = names.filter((n) => {
    const pid = pattern.exec(n)?.[1];
    return pid !== undefined && gone(Number(pid)) && !held(join(parent, n));
  });
  // without /proc every pid would look gone
  if (!stale.length || procStat('self') === undefined) return [];
  const removed: string[] = [];
  for (const n of stale) {
    const path = join(parent, n);
    if (dryRun) {
      removed.push(path);
      continue;
    }
    try {
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // best effort: a leftover that cannot go now (a mount in it, EACCES) fails no extraction; gc tries again
    }
  }
  return removed;
}

/**
 * Remove the extraction dirs a killed extraction left in the layer store
 * ($BOXKIT_DATA_DIR/unionfs/layers, or `layersDir`). Returns the paths removed.
 */
export function sweepStaleLayers(layersDir = dataDir('unionfs', 'layers'), dryRun = false): string[] {
  return sweep(layersDir, LAYER_TMP, dryRun);
}
