/** `run inspect NAME`: everything the record holds, with the live status. */
import { printJson } from '@boxkit/common';
import { liveStatus } from '../state/store.js';
import { mustFind } from './lookup.js';

export function inspect(a: { names: string[]; json: boolean }): number {
  const recs = a.names.map((n) => {
    const r = mustFind(n);
    return { ...r, status: liveStatus(r) };
  });
  // docker inspect prints an array; a single name is the common case, but keep the shape stable
  printJson(a.json || true ? recs : recs);
  return 0;
}
