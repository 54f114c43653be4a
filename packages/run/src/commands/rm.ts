/** `run rm [-f] NAME...`: remove containers and everything they hold. */
import { BoxkitError, shellQuote } from '@boxkit/common';
import { dryRunOutput, printJson, warn } from '@boxkit/common/output';
import { out } from '@boxkit/common/stdio';
import { teardownIfOwn, teardownShell } from '../container/teardown.js';
import { creatorAlive, exitPath, forget, isAlive, locked, recordPath } from '../state/store.js';
import { eachName, find } from './lookup.js';

export async function rm(a: { names: string[]; force: boolean; dryRun?: boolean; json?: boolean }): Promise<number> {
  const removed: string[] = [];
  const d = a.dryRun ? dryRunOutput(a) : undefined;
  // a running one (without -f) is reported, the others still removed (as docker rm)
  const code = await eachName(a.names, async (n) => {
    let rec;
    try {
      rec = find(n);
    } catch (e) {
      // a damaged record: -f forgets it (what it held, gc takes once nothing runs there)
      if (!a.force || !(e instanceof BoxkitError) || e.code !== 'EBADSTATE') throw e;
      if (a.dryRun) {
        d!.print(shellQuote(['rm', '-f', recordPath(n), exitPath(n)]));
        removed.push(n);
        return;
      }
      await locked(() => forget(n));
      warn('run', `warning: ${n}'s record was damaged: forgot it; run gc removes what it held (or names the process to end first)`);
      if (a.json) removed.push(n);
      else out(n);
      return;
    }
    if (!rec) {
      if (a.force) return;
      // removing what is gone succeeds (DESIGN.md), but say so
      warn('run', `${n}: no such container`);
      return;
    }
    // half-made by a run that is still at it (its pid is recorded only once it runs): removing it
    // under that run pulls its union and cgroup away, and the run then failed with 'broken pipe'
    if (!a.force && rec.status === 'creating' && creatorAlive(rec)) {
      throw new BoxkitError('EBUSY', `${rec.name}: container is being created (by run pid ${rec.creatorPid})`, { hint: `wait for it, then run rm -f ${rec.name}` });
    }
    if (isAlive(rec) && !a.force) {
      throw new BoxkitError('EBUSY', `${rec.name}: container is running`, { hint: `run stop ${rec.name}, or run rm -f ${rec.name}` });
    }
    if (a.dryRun) {
      for (const l of teardownShell(rec)) d!.print(l);
      removed.push(rec.name);
      return;
    }
    // under the store's lock, and only while the name is still this container's: a -d --rm one's keeper
    // may have removed it meanwhile and a new run taken the name (its cgroup path is the name's)
    if (!(await teardownIfOwn(rec))) {
      if (!a.force) warn('run', `${n}: no such container`);
      return;
    }
    if (a.json) removed.push(rec.name);
    else out(rec.name);
  });
  if (d) d.done({ removed });
  else if (a.json) printJson({ removed });
  return code;
}
