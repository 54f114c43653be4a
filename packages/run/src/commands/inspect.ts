/** `run inspect NAME`: everything the record holds, with the live status. */
import { printJson } from '@boxkit/common';
import { liveStatus } from '../state/store.js';
import { mustFind } from './lookup.js';

export function inspect(a: { names: string[] }): number {
  const recs = a.names.map((n) => {
    const r = mustFind(n);
    return { ...r, status: liveStatus(r) };
  });
  // always JSON, an array like docker inspect's (one shape whatever the number of names)
  printJson(recs);
  return 0;
}
