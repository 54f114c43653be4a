/**
 * SIGINT, SIGTERM and SIGHUP (its terminal gone) during work that writes (a
 * layer extraction, a commit) stop it cleanly: the work sees an AbortSignal
 * at its next breath, undoes what it made, and then the process dies of
 * that signal, as it would have at once without handlers (the shell sees
 * 130, 143 or 129). (Node resets them all to their default action at
 * start, even when the parent ignored one, as a shell does for `cmd &`:
 * catching them stops nothing that did not stop before.) Work that is
 * synchronous cannot be interrupted, so it breathes (yields to the event
 * loop, where signal handlers run) every few milliseconds, and looks once
 * more before what it made becomes the user's (common's lastLook): a signal that
 * came at any time before that undoes it all, one after finds it done.
 */
import { BoxkitError } from '@boxkit/common';
import { abortOnInterrupt, signalStatus } from '@boxkit/common/signals';

/** The reason of an abort by a signal: exit 128+N if it ever reaches the top. */
export class Stopped extends BoxkitError {
  constructor(readonly signal: NodeJS.Signals) {
    super('ESTOPPED', `stopped by ${signal}`, { exitCode: signalStatus(signal) });
  }
}

/**
 * Run `fn` with SIGINT/SIGTERM/SIGHUP aborting its signal. When one came, the
 * process ends by it once `fn` has returned or thrown (after its undo).
 */
export async function stoppable<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const stop = abortOnInterrupt((sig) => new Stopped(sig));
  try {
    return await fn(stop.signal);
  } finally {
    stop.release();
    // (the last listener gone, libuv puts the default action back)
    const got = stop.signal.aborted ? (stop.signal.reason as Stopped).signal : undefined;
    if (got) {
      process.kill(process.pid, got);
      process.exit(signalStatus(got));
    }
  }
}

/** Breaths for long synchronous work: see breather. */
export interface Breather {
  /** Time for a breath (cheap: no promise is made when it is not). */
  due(): boolean;
  /** Yield to the event loop (a signal's handler runs there), then throw the abort reason if aborted. */
  take(): Promise<void>;
}

/**
 * Breaths every `everyMs` for work that `signal` may stop: the work calls
 * `if (b.due()) await b.take()` between its steps. Without a signal none
 * is ever due.
 */
export function breather(signal: AbortSignal | undefined, everyMs = 10): Breather {
  if (!signal) return { due: () => false, take: async () => {} };
  // (hrtime, not performance.now(): the global `performance` loads perf_hooks, nine modules compiled per start)
  const now = () => Number(process.hrtime.bigint() / 1_000_000n);
  let last = now();
  return {
    due: () => now() - last >= everyMs,
    take: async () => {
      await new Promise((r) => setImmediate(r));
      last = now();
      signal.throwIfAborted();
    },
  };
}
