/**
 * While the container runs, ns-clone stands in for it (common/signals.ts):
 * the signals a user sends to ns-clone go to the container, and a
 * SIGINT/SIGTERM that has not stopped it within the stop timeout is
 * followed by SIGKILL.
 */
import { shellStatus } from '@boxkit/native';
import { catchSignals, FORWARDED, type CaughtSignals } from '@boxkit/common/signals';
import type { RunningContainer } from './container.js';

export { FORWARDED };

export interface SuperviseOptions {
  /** Seconds between a SIGINT/SIGTERM and SIGKILL (default 10). */
  stopTimeoutS?: number;
  /** Called when the timeout expires, before SIGKILL. */
  onEscalate?: () => void;
}

/**
 * Forward signals until the container exits; resolve with its shell status
 * (128+N for signal N). `caught`: signals caught since before the start.
 */
export async function superviseContainer(c: Pick<RunningContainer, 'wait' | 'signal'>, opts: SuperviseOptions = {}, caught: CaughtSignals = catchSignals(opts)): Promise<number> {
  caught.attach((sig) => c.signal(sig));
  try {
    return shellStatus(await c.wait());
  } finally {
    caught.release();
  }
}
