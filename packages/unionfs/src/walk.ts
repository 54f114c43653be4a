/**
 * Walk a layer directory in a stable order (parents before children, names
 * sorted bytewise), with each entry's lstat and its whiteout role.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { roleOf, hasOpaqueXattr, WH_OPAQUE, type EntryRole } from './whiteout.js';

export interface LayerEntry {
  /** relative to the layer root, no leading '/' */
  rel: string;
  abs: string;
  st: BigIntStats;
  role: EntryRole;
  /** for directories: their lower contents are hidden (either dialect) */
  opaque: boolean;
}

function names(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function* walkLayer(root: string, rel = ''): Generator<LayerEntry> {
  for (const name of names(rel ? join(root, rel) : root)) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = join(root, r);
    const st = lstatSync(abs, { bigint: true });
    const role = roleOf(r, st);
    let opaque = false;
    if (st.isDirectory() && role.role === 'content') {
      opaque = hasOpaqueXattr(abs) || safeHas(abs, WH_OPAQUE);
    }
    yield { rel: r, abs, st, role, opaque };
    if (st.isDirectory() && role.role === 'content') yield* walkLayer(root, r);
  }
}

function safeHas(dir: string, name: string): boolean {
  try {
    lstatSync(join(dir, name));
    return true;
  } catch {
    return false;
  }
}
