/** `run stop NAME... [--time S]`: SIGTERM to PID 1, SIGKILL after S seconds (default: the container's --stop-timeout). */
import { dryRunOutput, printJson, warn } from '@boxkit/common/output';
import { validateSeconds } from '@boxkit/common/validate';
import { after } from '@boxkit/common/errors';
import { out } from '@boxkit/common/stdio';
import { finish, hurryOnInterrupt, stopContainer } from '../container/lifecycle.js';
import { signalStatus } from '@boxkit/common/signals';
import { isAlive } from '../state/store.js';
import { keeperRecords } from '../container/keeper.js';
import { teardownIfOwn } from '../container/teardown.js';
import { eachName, mustFind } from './lookup.js';

/** docker's stop timeout, for a record made before --stop-timeout was recorded */
const DEFAULT_STOP_TIMEOUT = 10;

export async function stop(a: { names: string[]; time?: number; dryRun?: boolean; json?: boolean }): Promise<number> {
  const given = a.time === undefined ? undefined : validateSeconds('--time', a.time);
  const stopped: { name: string; killed: boolean }[] = [];
  const d = a.dryRun ? dryRunOutput(a) : undefined;
  const would: string[] = [];
  // Ctrl-C while it waits: kill now (see hurryOnInterrupt)
  const hurry = a.dryRun ? undefined : hurryOnInterrupt();
  // a name that is not there is reported, the others still stopped (as docker stop)
  const code = await eachName(a.names, async (n) => {
    const rec = mustFind(n);
    const time = given ?? rec.stopTimeout ?? DEFAULT_STOP_TIMEOUT;
    if (a.dryRun) {
      if (!isAlive(rec)) return;
      would.push(rec.name);
      d!.print(`kill -TERM ${rec.pid}`);
      d!.print(`sleep ${time}; kill -0 ${rec.pid} 2>/dev/null && kill -KILL ${rec.pid}`);
      return;
    }
    const wasRunning = isAlive(rec);
    const killed = await stopContainer(rec, time, 15, hurry?.signal);
    // a detached container's keeper records its end with the real status; without one (killed, or
    // started before keepers) nobody waits for it: record the end here (137 when it had to be killed)
    if (rec.detach && (wasRunning || rec.status === 'running') && !(await keeperRecords(rec))) {
      // a --rm one under the store's lock and only while it is still this container (its keeper may be at it)
      if (rec.autoRemove) await teardownIfOwn(rec);
      else await finish(rec, killed ? 137 : undefined).catch((e: unknown) => {
        throw after(`${rec.name}: stopped, but its end was not recorded`, e);
      });
    }
    if (a.json) stopped.push({ name: rec.name, killed });
    else out(rec.name);
  });
  hurry?.release();
  if (d) d.done({ stopped: would });
  else if (a.json) printJson({ stopped });
  if (!hurry?.signal.aborted) return code;
  const sig = hurry.signal.reason as NodeJS.Signals;
  warn('run', `stop interrupted by ${sig}: killed what was still running (SIGKILL)`);
  return signalStatus(sig);
}
