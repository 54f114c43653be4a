/**
 * Standing in for a child: the signals a user sends to the tool go to the
 * child, and since a PID 1 without handlers ignores SIGTERM (the kernel
 * drops it), a SIGINT/SIGTERM that has not stopped it within the stop
 * timeout is followed by SIGKILL, as `docker stop` does. Catching can start
 * before the child exists: a signal that comes while the tool is still
 * setting up is passed on once the child is attached, instead of killing
 * the tool half-way and leaving the child and its state behind.
 */
import { constants } from 'node:os';

export const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

/** The signals a user stops a command with: a terminal's Ctrl-C, kill, the terminal gone. */
export const INTERRUPTS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** 128+N for signal `sig`, as a shell reports a command that signal ended. */
export const signalStatus = (sig: NodeJS.Signals): number => 128 + (constants.signals[sig] ?? 0);

/**
 * Until release(), the first SIGINT, SIGTERM or SIGHUP aborts `signal`,
 * with why(it) as its reason: work that may be stopped looks at it between
 * its steps, and at last with lastLook.
 */
export function abortOnInterrupt(why: (sig: NodeJS.Signals) => unknown): { signal: AbortSignal; release(): void } {
  const ac = new AbortController();
  const on = (sig: NodeJS.Signals) => {
    if (!ac.signal.aborted) ac.abort(why(sig));
  };
  for (const s of INTERRUPTS) process.on(s, on);
  return {
    signal: ac.signal,
    release() {
      for (const s of INTERRUPTS) process.off(s, on);
    },
  };
}

/**
 * The last look at `signal` before work's result becomes the user's (a
 * rename into place, the end of a mount, a container's release): throws
 * its reason if aborted. A signal that came during synchronous work has its
 * handler run only at a turn of the event loop that polls, so two turns: an
 * immediate queued from a poll callback runs before the next poll. Without
 * this look such a signal was lost: the work ended as done, exit 0, and a
 * shell loop given Ctrl-C went on to its next turn.
 */
export async function lastLook(signal: AbortSignal | undefined): Promise<void> {
  if (!signal) return;
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  signal.throwIfAborted();
}
const STOPPING = new Set<NodeJS.Signals>(['SIGINT', 'SIGTERM']);

export interface CatchOptions {
  /** Seconds between a SIGINT/SIGTERM and SIGKILL (default 10). */
  stopTimeoutS?: number;
  /** Called when the timeout expires, before SIGKILL. */
  onEscalate?: () => void;
  /** The signals to forward (default FORWARDED). */
  signals?: readonly NodeJS.Signals[];
}

export interface CaughtSignals {
  /** Send to `signal` from now on, the signals that came before first. */
  attach(signal: (sig: NodeJS.Signals) => void): void;
  /** Stop catching (the child has ended, or never started). */
  release(): void;
}

export function catchSignals(opts: CatchOptions = {}): CaughtSignals {
  const signals = opts.signals ?? FORWARDED;
  let target: ((sig: NodeJS.Signals) => void) | undefined;
  const pending: NodeJS.Signals[] = [];
  let escalate: NodeJS.Timeout | undefined;
  const forward = (sig: NodeJS.Signals) => {
    if (!target) {
      pending.push(sig);
      return;
    }
    const send = target;
    send(sig);
    if (STOPPING.has(sig) && !escalate) {
      escalate = setTimeout(() => {
        opts.onEscalate?.();
        send('SIGKILL');
      }, (opts.stopTimeoutS ?? 10) * 1000);
    }
  };
  for (const s of signals) process.on(s, forward);
  return {
    attach(signal) {
      target = signal;
      for (const sig of pending.splice(0)) forward(sig);
    },
    release() {
      for (const s of signals) process.off(s, forward);
      if (escalate) clearTimeout(escalate);
    },
  };
}
