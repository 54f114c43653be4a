/**
 * Temporary extraction dirs (`<layer>.<pid>.tmp`, see extract.ts) left by
 * an extraction that was killed: its own cleanup never ran, so whoever
 * extracts next (or `run gc`) removes them. Only those of a process that is
 * gone: a live pid may be another extraction at work. (A pid the system has
 * since given to an unrelated process keeps its dir until that one ends too.)
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { dataDir } from '@boxkit/common';

/** The layer store's extraction dirs: a sha256 (the layer's name) and the extracting pid. */
const LAYER_TMP = /^[0-9a-f]{64}\.([1-9][0-9]*)\.tmp$/;

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Is `pid` a process that could still be extracting? Not when /proc has no
 * such pid, nor a zombie (it ended; only its exit status is left to read).
 */
function gone(pid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
  // the state follows the command name, which may itself hold ') '
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state === 'Z' || state === 'X';
}

/** Whether this process sees the pids of others: without /proc every pid would look gone. */
function procMounted(): boolean {
  try {
    readFileSync(`/proc/${process.pid}/stat`);
    return true;
  } catch {
    return false;
  }
}

/** Remove the entries of `parent` that `pattern` matches (group 1: a pid) and whose pid is gone. */
function sweep(parent: string, pattern: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return []; // no store yet: nothing to sweep
  }
  const stale = names.filter((n) => {
    const pid = pattern.exec(n)?.[1];
    return pid !== undefined && gone(Number(pid));
  });
  if (!stale.length || !procMounted()) return [];
  const removed: string[] = [];
  for (const n of stale) {
    const path = join(parent, n);
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
export function sweepStaleLayers(layersDir = dataDir('unionfs', 'layers')): string[] {
  return sweep(layersDir, LAYER_TMP);
}

/** The same for one extraction target: `<dir>.<pid>.tmp` beside `dir`. */
export function sweepStaleExtractions(dir: string): string[] {
  const slash = dir.lastIndexOf('/');
  return sweep(dir.slice(0, slash) || '/', new RegExp(`^${escapeRe(dir.slice(slash + 1))}\\.([1-9][0-9]*)\\.tmp$`));
}
