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
 */
import { closeSync, constants, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { mkfifo } from '@boxkit/native';
import { createInMadeParent, removeMadeDirs } from '@boxkit/common/dirs';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { shellQuote } from '@boxkit/common/exec';
import { procStat } from '@boxkit/common/proc';

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

/** Remove a fifo and its pid record once nobody can be waiting on it (the child is gone). */
export function forgetFifo(pid: number, fifo: string): void {
  rmSync(fifo, { force: true });
  rmSync(join(setupDir(), `${pid}.fifo-path`), { force: true });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A child's setup fifo, and the record that maps its pid to it (when given by pid). */
export interface SetupFifo {
  fifo: string;
  record?: string;
}

/** The fifo a child waits on, given the fifo path or the child's pid; a stale record is removed unless `dryRun`. */
export function findSetupFifo(target: string, dryRun = false): SetupFifo {
  let fifo = target;
  let record: string | undefined;
  if (/^\d+$/.test(target)) {
    record = join(setupDir(), `${target}.fifo-path`);
    try {
      fifo = readFileSync(record, 'utf8').trim();
    } catch {
      throw new UsageError(`process ${target} is not waiting for setup (no record in ${setupDir()})`, 'give the fifo path instead');
    }
    // killed while it waited: nobody will read the fifo (a release would wait 5 s for nothing, every time)
    const st = procStat(Number(target));
    if (!st || st.state === 'Z' || st.state === 'X') {
      if (!dryRun) forgetFifo(Number(target), fifo);
      throw new BoxkitError('ESRCH', `process ${target} is gone: nothing to release${dryRun ? '' : ' (its fifo and record are removed)'}`);
    }
  }
  try {
    if (!statSync(fifo).isFIFO()) throw new UsageError(`${fifo}: not a fifo`);
  } catch (e) {
    if (e instanceof UsageError) throw e;
    if (record && !dryRun) rmSync(record, { force: true });
    throw new UsageError(`${fifo}: no such fifo (already released?)`);
  }
  return { fifo, ...(record ? { record } : {}) };
}

/** What a release does, as shell lines (--dry-run, -v). */
export function releaseShell(f: SetupFifo, abort = false): string[] {
  return [`${abort ? ':' : 'echo'} > ${shellQuote([f.fifo])}`, shellQuote(['rm', '-f', f.fifo, ...(f.record ? [f.record] : [])])];
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
  return fifo;
}
