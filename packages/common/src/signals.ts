/**
 * Standing in for a child: the signals a user sends to the tool go to the
 * child, and since a PID 1 without handlers ignores SIGTERM (the kernel
 * drops it), a SIGINT/SIGTERM that has not stopped it within the stop
 * timeout is followed by SIGKILL, as `docker stop` does. Catching can start
 * before the child exists: a signal that comes while the tool is still
 * setting up is passed on once the child is attached, instead of killing
 * the tool half-way and leaving the child and its state behind.
 */
export const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
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
