/** `run inspect NAME`: everything the record holds, with the live status. */
import { printJson } from '@boxkit/common';
import { isAlive, liveStatus } from '../state/store.js';
import { mustFind } from './lookup.js';

export function inspect(a: { names: string[] }): number {
  const recs = a.names.map((n) => {
    const r = mustFind(n);
    // the pid of an ended PID 1 is no process of the container (the kernel may have given it to
    // another): null, as ps shows '-' and docker inspect's State.Pid 0
    return { ...r, status: liveStatus(r), pid: isAlive(r) ? r.pid : null };
  });
  // always JSON, an array like docker inspect's (one shape whatever the number of names)
  printJson(recs);
  return 0;
}
