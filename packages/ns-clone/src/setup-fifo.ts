/**
 * The setup handshake (--wait-for-setup). Before any setup inside, the
 * child opens a fifo for reading and waits for one byte; a pipeline
 * configures cgroups and network by pid meanwhile, then releases it:
 *
 *   pid=$(ns-clone --detach --wait-for-setup --net -- sleep 100)
 *   cg attach web $pid && netsetup veth --pid $pid ...
 *   ns-clone release $pid        # or: echo > FIFO (from the --json output)
 *
 * Opening the fifo and closing it without writing (`: > FIFO`) aborts the
 * child instead: it exits 125 without running the command. The child
 * removes the fifo once it has read it; `release` also removes the small
 * state file that maps the pid to its fifo.
 *
 * A detached child (--detach) has nobody left to take back what its start
 * made should its command never run: its namespaces bound to a PATH
 * (--net=PATH) and the directories made for the fifo. They are noted in a
 * second record, PID.undo, which `release --abort` (or a release that finds
 * the child killed while held) acts on, as the foreground ns-clone does.
 */
import { closeSync, constants, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mkfifo } from '@boxkit/native';
import { createInMadeParent, removeMadeDirs } from '@boxkit/common/dirs';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { shellQuote } from '@boxkit/common/exec';
import { procStat } from '@boxkit/common/proc';
import { atomicWrite } from '@boxkit/common/state';
import { stillPersisted, undoPersist, type Persisted } from './persist.js';

/** Where fifos and their pid records live: $BOXKIT_STATE_DIR/ns-clone, /run/boxkit/ns-clone for root, else /tmp. */
export function setupDir(): string {
  const base = process.env.BOXKIT_STATE_DIR || (process.geteuid?.() === 0 ? '/run/boxkit' : `/tmp/boxkit-${process.geteuid?.()}`);
  return join(base, 'ns-clone');
}

/**
 * Make a fresh fifo for one child (absolute: `release` may run from another
 * directory). The directories made for it are added to `made`; when the
 * fifo cannot be made, they are removed again before the error is thrown.
 */
export function createSetupFifo(path?: string, made: string[] = []): string {
  const fifo = path ? resolve(path) : join(setupDir(), `setup-${process.pid}-${Date.now().toString(36)}.fifo`);
  const mine: string[] = [];
  try {
    // (made again when a failing run removed an empty state dir between our mkdir and mkfifo)
    createInMadeParent(fifo, () => mkfifo(fifo, 0o600), mine, 0o700);
  } catch (e) {
    removeMadeDirs(mine);
    throw e;
  }
  made.push(...mine);
  return fifo;
}

/** Remember which fifo holds `pid`, so `ns-clone release PID` can find it. Directories made go to `made`. */
export function recordFifo(pid: number, fifo: string, made: string[] = []): void {
  // a --setup-fifo elsewhere made no state dir: the record needs one all the same (made again
  // when a failing run removed it, empty, between our mkdir and our write)
  const record = join(setupDir(), `${pid}.fifo-path`);
  createInMadeParent(record, () => writeFileSync(record, fifo), made, 0o700);
}

/** What a held child's start made that its command never running should take back (see the top). */
export interface HeldUndo {
  /** Namespaces bound to a PATH, in the order they were made. */
  persisted: Persisted[];
  /** Directories made for the fifo and its records, outermost first (removed only while empty). */
  dirs: string[];
}

const undoRecord = (pid: number | string) => join(setupDir(), `${pid}.undo`);

/** Note what a detached child's start made (written after recordFifo, before its pid is printed). */
export function recordUndo(pid: number, undo: HeldUndo): void {
  if (!undo.persisted.length && !undo.dirs.length) return;
  atomicWrite(undoRecord(pid), JSON.stringify(undo), 0o600);
}

/**
 * The child `pid` will never run its command (aborted, or killed while
 * held): remove its fifo and records, then take back what its undo record
 * names. A namespace is unmounted only if the one bound at PATH is still
 * the child's (not one bound there since). Returns the paths unmounted.
 */
export function takeBack(pid: number | string, fifo: string): string[] {
  const undo = readUndo(pid);
  forgetFifo(Number(pid), fifo);
  const gone: string[] = [];
  for (const p of [...(undo.persisted ?? [])].reverse()) {
    if (!stillPersisted(p)) continue;
    undoPersist(p);
    gone.push(p.path);
  }
  removeMadeDirs([...(undo.dirs ?? [])]);
  return gone;
}

function readUndo(pid: number | string): Partial<HeldUndo> {
  try {
    return JSON.parse(readFileSync(undoRecord(pid), 'utf8')) as HeldUndo;
  } catch {
    return {}; // none (a foreground run takes back its own), or unreadable: nothing is known to be ours
  }
}

/** Remove a fifo and its pid records once nobody can be waiting on it (the child is gone). */
export function forgetFifo(pid: number, fifo: string): void {
  rmSync(fifo, { force: true });
  rmSync(join(setupDir(), `${pid}.fifo-path`), { force: true });
  rmSync(undoRecord(pid), { force: true });
}

/** The pid whose record names `fifo` (a release given the fifo's path), if any. */
function pidOfFifo(fifo: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(setupDir());
  } catch {
    return undefined;
  }
  for (const n of names) {
    const m = /^(\d+)\.fifo-path$/.exec(n);
    if (!m) continue;
    try {
      if (readFileSync(join(setupDir(), n), 'utf8').trim() === fifo) return m[1];
    } catch {
      // removed meanwhile
    }
  }
  return undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child's setup fifo, and the record that maps its pid to it (when given by pid, or found by the fifo's path). */
export interface SetupFifo {
  fifo: string;
  record?: string;
  pid?: string;
}

/** The fifo a child waits on, given the fifo path or the child's pid; a stale record is removed unless `dryRun`. */
export function findSetupFifo(target: string, dryRun = false): SetupFifo {
  let fifo = target;
  let record: string | undefined;
  let pid = /^\d+$/.test(target) ? target : undefined;
  if (!pid) pid = pidOfFifo(resolve(target));
  if (pid) {
    record = join(setupDir(), `${pid}.fifo-path`);
    try {
      fifo = readFileSync(record, 'utf8').trim();
    } catch {
      if (pid === target) throw new UsageError(`process ${target} is not waiting for setup (no record in ${setupDir()})`, 'give the fifo path instead');
      record = pid = undefined; // released meanwhile: the fifo itself says
    }
  }
  if (pid) {
    // killed while it waited: nobody will read the fifo (a release would wait 5 s for nothing, every time)
    const st = procStat(Number(pid));
    if (!st || st.state === 'Z' || st.state === 'X') {
      let why = dryRun ? '' : ' (its fifo and record are removed)';
      if (!dryRun) {
        // its fifo still there: it never read it, so its command never ran (killed while held, or
        // aborted with `: > FIFO`): what its start made goes, as a foreground run takes it back
        const gone = isFifo(fifo) ? takeBack(pid, fifo) : (forgetFifo(Number(pid), fifo), []);
        if (gone.length) why = ` (its fifo and record are removed; its namespace at ${gone.join(', ')} is unmounted)`;
      }
      throw new BoxkitError('ESRCH', `process ${pid} is gone: nothing to release${why}`);
    }
  }
  try {
    if (!statSync(fifo).isFIFO()) throw new UsageError(`${fifo}: not a fifo`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (record && !dryRun) rmSync(record, { force: true });
    throw new UsageError(`${fifo}: no such fifo (already released?)`);
  }
  return { fifo, ...(record ? { record } : {}), ...(pid ? { pid } : {}) };
}

function isFifo(path: string): boolean {
  try {
    return statSync(path).isFIFO();
  } catch {
    return false;
  }
}

/** What a release does, as shell lines (--dry-run, -v). */
export function releaseShell(f: SetupFifo, abort = false): string[] {
  const lines = [`${abort ? ':' : 'echo'} > ${shellQuote([f.fifo])}`, shellQuote(['rm', '-f', f.fifo, ...(f.record ? [f.record] : [])])];
  // an abort takes back the namespaces a detached start bound (if still its own)
  if (abort && f.pid) for (const p of [...(readUndo(f.pid).persisted ?? [])].reverse()) lines.push(`umount -l ${shellQuote([p.path])}${p.madeFile ? ` && rm -f ${shellQuote([p.path])}` : ''}`);
  return lines;
}

/** Release (or abort) the child waiting on a fifo, given the fifo path or the child's pid. */
export async function releaseSetup(target: string, opts: { abort?: boolean; timeoutMs?: number; trace?: (line: string) => void } = {}): Promise<string> {
  const found = findSetupFifo(target);
  const { fifo, record } = found;
  for (const l of releaseShell(found, opts.abort)) opts.trace?.(l);
  // the child may not have opened its end yet: ENXIO until it has
  const deadline = Date.now() + (opts.timeoutMs ?? 5000);
  for (;;) {
    try {
      const fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
      if (!opts.abort) writeSync(fd, '\n');
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENXIO' || Date.now() > deadline) {
        throw new BoxkitError('ERELEASE', `release ${target}: nobody is waiting on ${fifo}`);
      }
      await sleep(20);
    }
  }
  rmSync(fifo, { force: true });
  if (record) rmSync(record, { force: true });
  if (found.pid) {
    // aborted, its command never runs: nobody else stays to take back what a detached start made
    if (opts.abort) takeBack(found.pid, fifo);
    else rmSync(undoRecord(found.pid), { force: true });
  }
  return fifo;
}
