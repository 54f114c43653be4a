/**
 * While the container runs, ns-clone stands in for it: the signals a user
 * sends to ns-clone go to the container, and since a PID 1 without handlers
 * ignores SIGTERM (the kernel drops it), a SIGINT/SIGTERM that has not
 * stopped the container within the stop timeout is followed by SIGKILL.
 */
import { shellStatus } from '@boxkit/native';
import type { RunningContainer } from './container.js';

export const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];
const STOPPING = new Set<NodeJS.Signals>(['SIGINT', 'SIGTERM']);

export interface SuperviseOptions {
  /** Seconds between a SIGINT/SIGTERM and SIGKILL (default 10). */
  stopTimeoutS?: number;
  /** Called when the timeout expires, before SIGKILL. */
  onEscalate?: () => void;
}

/** Forward signals until the container exits; resolve with its shell status (128+N for signal N). */
export async function superviseContainer(c: Pick<RunningContainer, 'wait' | 'signal'>, opts: SuperviseOptions = {}): Promise<number> {
  const timeoutMs = (opts.stopTimeoutS ?? 10) * 1000;
  let timer: NodeJS.Timeout | undefined;
  const handlers = FORWARDED.map((sig) => {
    const h = () => {
      c.signal(sig);
      if (STOPPING.has(sig) && !timer) {
        timer = setTimeout(() => {
          opts.onEscalate?.();
          c.signal('SIGKILL');
        }, timeoutMs);
      }
    };
    process.on(sig, h);
    return [sig, h] as const;
  });
  try {
    return shellStatus(await c.wait());
  } finally {
    if (timer) clearTimeout(timer);
    for (const [sig, h] of handlers) process.off(sig, h);
  }
}
