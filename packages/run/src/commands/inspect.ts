/** `run inspect NAME`: everything the record holds, with the live status. */
import { printJson } from '@boxkit/common';
import { isAlive, keptExitCode, liveStatus } from '../state/store.js';
import { eachName, mustFind } from './lookup.js';

export async function inspect(a: { names: string[] }): Promise<number> {
  const recs: object[] = [];
  // a name that is not there is reported, the others still printed (as docker inspect)
  const code = await eachName(a.names, (n) => {
    const r = mustFind(n);
    // the pid of an ended PID 1 is no process of the container (the kernel may have given it to
    // another): null, as ps shows '-' and docker inspect's State.Pid 0
    const status = liveStatus(r);
    // ended, its end not recorded yet (its keeper's finish still starting, or failed to): the
    // status its keeper left on disk, as ps shows once it settles it
    const exitCode = r.exitCode ?? (status === 'exited' ? keptExitCode(r) : undefined);
    recs.push({ ...r, status, pid: isAlive(r) ? r.pid : null, ...(exitCode === undefined ? {} : { exitCode }) });
  });
  // always JSON, an array like docker inspect's (one shape whatever the number of names)
  printJson(recs);
  return code;
}
