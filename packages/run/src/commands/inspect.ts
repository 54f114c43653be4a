/** `run inspect NAME`: everything the record holds, with the live status. */
import { printJson } from '@boxkit/common';
import { isAlive, liveStatus } from '../state/store.js';
import { eachName, mustFind } from './lookup.js';

export async function inspect(a: { names: string[] }): Promise<number> {
  const recs: object[] = [];
  // a name that is not there is reported, the others still printed (as docker inspect)
  const code = await eachName(a.names, (n) => {
    const r = mustFind(n);
    // the pid of an ended PID 1 is no process of the container (the kernel may have given it to
    // another): null, as ps shows '-' and docker inspect's State.Pid 0
    recs.push({ ...r, status: liveStatus(r), pid: isAlive(r) ? r.pid : null });
  });
  // always JSON, an array like docker inspect's (one shape whatever the number of names)
  printJson(recs);
  return code;
}
