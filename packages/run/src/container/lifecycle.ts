/**
 * After the start: wait for a foreground container while forwarding the
 * signals the user sends, stop one (SIGTERM, then SIGKILL after a timeout,
 * as docker stop does), and record how it ended.
 */
import { isoTime } from '@boxkit/common/time';
import { BoxkitError } from '@boxkit/common';
import { kill, shellStatus, type Child } from '@boxkit/native';
import { procStat } from '@boxkit/common/proc';
import { err } from '@boxkit/common/stdio';
import { abortOnInterrupt, catchSignals, FORWARDED, INTERRUPTS, lastLook, signalStatus, type CaughtSignals } from '@boxkit/common/signals';
import { lockWaits } from '@boxkit/common/state';
import { warn } from '@boxkit/common/output';
import type { ContainerRecord } from '../state/record.js';
import { removeFile } from '@boxkit/common';
import { creatorAlive, exitPath, isAlive, isGarbage, keptExitCode, list, load, locked, save } from '../state/store.js';
import { teardown, teardownIfOwn } from './teardown.js';
import { teardownNetwork } from './network.js';
import { defaultRootfsLock } from '../rootfs/default.js';
import { mark } from '@boxkit/common/phases';

/** What run forwards to a foreground container: common's set, and window-size changes for -t. */
export const RUN_SIGNALS: readonly NodeJS.Signals[] = [...FORWARDED, 'SIGWINCH'];

/** Catch run's signals from before the container starts (see common/signals.ts). */
export const catchRunSignals = (stopTimeout: number): CaughtSignals => catchSignals({ stopTimeoutS: stopTimeout, signals: RUN_SIGNALS });

/**
 * Until the command runs, SIGINT, SIGTERM and SIGHUP abort `signal`: the start
 * stops at its next check (between an --image extraction's entries, before the
 * release), undoes what it made and fails with 128+N, as unionfs mount does.
 * Only passed on to the container (catchRunSignals) once it runs: passed on at
 * the release, a Ctrl-C during a slow start ran the command anyway (0 with
 * `-- true`), and a PID 1 that ignores SIGINT ran until the stop timeout.
 */
export const stopBeforeStart = (): { signal: AbortSignal; release(): void } =>
  abortOnInterrupt((sig) => new BoxkitError('ESTOPPED', `stopped by ${sig} before the command started (what was made is removed)`, { exitCode: signalStatus(sig) }));

/**
 * While `run stop` waits out a container's stop timeout, an interrupt (the
 * reason: its name) means "now": the containers get SIGKILL at once, as a
 * second Ctrl-C does in docker compose. Left running, one that ignores
 * SIGTERM ran on after the user gave up (docker's daemon finishes a stop
 * whose client went away).
 */
export const hurryOnInterrupt = (): { signal: AbortSignal; release(): void } => abortOnInterrupt((sig) => sig);

/**
 * Wait for a foreground container; its exit status is ours, unless SIGINT,
 * SIGTERM or SIGHUP came during the teardown after it: then 128+N, once the
 * teardown is done (released before it, a Ctrl-C there killed run half-way,
 * and the record, the union mount and the published ports stayed for gc).
 * A teardown under 50 ms sees such a signal only if it polled after it came.
 */
export async function waitForeground(rec: ContainerRecord, child: Child, stopTimeout: number, caught = catchRunSignals(stopTimeout)): Promise<number> {
  caught.attach((sig) => {
    try {
      process.kill(child.pid, sig);
    } catch {
      // already gone
    }
  });
  const status = await child.wait();
  mark('exited');
  // an interrupt from now on is the teardown's (128+N at its end): caught first, so none meets the
  // default action, then the forwarding released at once, which clears the stop timeout's timer
  // (left armed, it sent SIGKILL to the container's PID, reaped now: another process's in time)
  const late = abortOnInterrupt((sig) => sig);
  caught.release();
  const code = shellStatus(status);
  const t0 = process.hrtime.bigint();
  const waits = lockWaitsSaid(rec);
  try {
    await finish(rec, code, waits.step);
    // a handler runs only in a turn of the event loop that polls: a slow teardown (a wait for a
    // lock) takes lastLook's two turns first; a quick one does not, as a quick start (create.ts)
    if (process.hrtime.bigint() - t0 > SLOW_TEARDOWN_NS) await lastLook(late.signal).catch(() => undefined);
  } finally {
    waits.release();
    late.release();
  }
  return late.signal.aborted ? signalStatus(late.signal.reason as NodeJS.Signals) : code;
}

/**
 * While a foreground container's end is recorded (or it is removed, --rm), a wait for a lock
 * another process holds (a netsetup stopped midway, a `flock` in someone's script) says so once
 * it passes 1 s, naming the lock and its holder; a SIGINT, SIGTERM or SIGHUP while it waits stops
 * the wait: what it was for stays, named with the command that removes it (`NAME: not removed:
 * SIGINT stopped the wait for LOCK, held by pid N (COMM)`, hint `run rm -f NAME`; without --rm,
 * `run ps` records the end, or, a wait to release its address and ports, `NAME: its address and
 * ports are kept`, hint `run rm NAME`, its end recorded; the last step of a --rm teardown, the
 * sweep of the trees a rebuild of the default rootfs kept for it, waits for its build lock: `NAME
 * is removed, but not the default rootfs tree ... (PATH)`, hint `run gc`), and run ends 128+N. Nothing is half-made:
 * a step that waits for its lock has not begun. Other interrupts of the teardown are noted only
 * (128+N at its end, see waitForeground). Before, the wait blocked in flock(2): no word, and no
 * Ctrl-C had any effect until the holder let go (never, for a stopped one).
 */
function lockWaitsSaid(rec: ContainerRecord): { step: FinishStep; release(): void } {
  const ac = new AbortController();
  // (what waits, without --rm: finish says which of its steps runs)
  const step: FinishStep = { what: 'recording its end' };
  let waiting = false;
  const on = (sig: NodeJS.Signals) => {
    if (waiting && !ac.signal.aborted) ac.abort(sig);
  };
  const heldBy = (pid: number | undefined) => {
    const comm = pid ? procStat(pid)?.comm : undefined;
    return pid ? `held by pid ${pid}${comm ? ` (${comm})` : ''}` : 'held by another process';
  };
  for (const s of INTERRUPTS) process.on(s, on);
  lockWaits({
    signal: ac.signal,
    // (this wait's lock, or a later one's that found its lock held once the wait was stopped)
    stopped: (path, pid) => new BoxkitError('EINTR', `${ac.signal.reason as string} stopped the wait for ${path}, ${heldBy(pid)}`, {
      exitCode: signalStatus(ac.signal.reason as NodeJS.Signals),
      hint: `${rec.autoRemove ? `run rm -f ${rec.name} removes what is left` : `run ps records its end`} once that lock is free`,
    }),
    onWait(path, pid) {
      waiting = true;
      // (the last step of a --rm teardown, its record gone: the trees a rebuild of the default rootfs kept for it)
      if (path === defaultRootfsLock()) {
        warn('run', `${rec.name} is removed; the removal of the default rootfs tree a rebuild replaced waits for ${path}, ${heldBy(pid)}: Ctrl-C stops waiting (then run gc removes it)`);
        return;
      }
      // (without --rm, a release of its address and ports cut short is left to run rm, as when it fails: finish names it)
      const what = rec.autoRemove ? 'its removal' : step.what;
      const then = rec.autoRemove ? ` (then run rm -f ${rec.name} removes what is left)` : step.what === RELEASE ? ` (then run rm ${rec.name} releases them)` : '';
      warn('run', `${rec.name} has ended; ${what} waits for ${path}, ${heldBy(pid)}: Ctrl-C stops waiting${then}`);
    },
    onWaitEnd() {
      waiting = false;
    },
  });
  return {
    step,
    release() {
      lockWaits(undefined);
      for (const s of INTERRUPTS) process.off(s, on);
    },
  };
}

/** Which step of finish() runs (a kept container's: the wait for a lock names it). */
interface FinishStep {
  what: string;
}

const RELEASE = 'the release of its address and ports';

/** A teardown slower than this (50 ms) looks for a signal that came during it before run exits. */
const SLOW_TEARDOWN_NS = 50_000_000n;

/**
 * Record the end of a container, or remove it all with --rm. With no `exitCode` (its waiter
 * was gone: ps, stop, gc noticed the end) the one its keeper left on disk is taken.
 */
export async function finish(rec: ContainerRecord, exitCode: number | undefined, step?: FinishStep): Promise<void> {
  if (rec.autoRemove) {
    await teardown(rec);
    return;
  }
  // as docker when a container stops: its address and published ports go back at once (another
  // container may take them), not at rm; if that fails, rm tries again with the record as it was
  let released = false;
  if (rec.net.hostVeth) {
    if (step) step.what = RELEASE;
    try {
      await teardownNetwork(rec.net);
      released = true;
    } catch (e) {
      // left for rm (its record keeps them), and said: a Ctrl-C that stopped the wait for its lock, or a failure
      warn('run', `warning: ${rec.name}: its address and ports are kept: ${(e as Error).message.split('\n')[0]}`);
      err(`hint: run rm ${rec.name} releases them${e instanceof BoxkitError && e.code === 'EINTR' ? ' once that lock is free' : ''}`);
    }
    if (step) step.what = 'recording its end';
  }
  await locked(() => {
    // removed meanwhile (run rm -f from elsewhere): nothing to record
    const cur = load(rec.name);
    if (!cur || cur.id !== rec.id) return;
    if (released) cur.net = { mode: cur.net.mode, ...(cur.net.bridge ? { bridge: cur.net.bridge } : {}) };
    cur.status = 'exited';
    cur.finished = isoTime();
    const code = exitCode ?? keptExitCode(cur);
    if (code !== undefined) cur.exitCode = code;
    save(cur);
    // the record holds it now (the record stays: the file would only be removed with it)
    removeFile(exitPath(cur.name));
  });
}

/** docker stop: SIGTERM to PID 1, SIGKILL after `timeout` seconds. Returns whether it had to kill. */
export async function stopContainer(rec: ContainerRecord, timeout: number, signal = 15, hurry?: AbortSignal): Promise<boolean> {
  if (!isAlive(rec)) return false;
  try {
    kill(rec.pid!, signal);
  } catch {
    return false;
  }
  const end = Date.now() + timeout * 1000;
  while (Date.now() < end && !hurry?.aborted) {
    if (!isAlive(rec)) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  if (!isAlive(rec)) return false; // (ended in the last wait: not killed)
  try {
    kill(rec.pid!, 9);
  } catch {
    // gone meanwhile
  }
  while (isAlive(rec)) await new Promise((r) => setTimeout(r, 10));
  return true;
}

/**
 * A kept container whose PID 1 ended with nobody waiting (a -d one that exited on its own, or
 * one whose `run` was killed): record its end and give its address and ports back, as the
 * wait in `run` or `run stop` would have. Returns whether there was such an end to record.
 */
export async function settle(rec: ContainerRecord): Promise<boolean> {
  if (rec.status !== 'running' || rec.autoRemove || isAlive(rec) || creatorAlive(rec)) return false;
  await finish(rec, undefined);
  return true;
}

/**
 * Give host port `port`/`proto` back from the containers that publish it and have ended with
 * nobody to notice: settle() a kept one, remove what gc would (a --rm one whose `run` was
 * killed: docker's daemon would have removed it at its end). Whether one gave it back.
 */
export async function settlePublishers(port: number, proto: string): Promise<boolean> {
  let any = false;
  for (const r of list()) {
    if (!r.net.publish?.some((p) => p.hostPort === port && p.proto === proto)) continue;
    if (isGarbage(r) ? await teardownIfOwn(r) : await settle(r)) any = true;
  }
  return any;
}
