/**
 * Walk a layer directory in a stable order (parents before children, names
 * sorted bytewise), with each entry's lstat and its whiteout role in the
 * format of the driver that made the layer.
 */
import { lstatSync, readdirSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { isOpaqueDir, roleOf, type EntryRole } from './whiteout.js';
import type { DriverName } from './spec.js';

export interface LayerEntry {
  /** relative to the layer root, no leading '/' */
  rel: string;
  abs: string;
  st: BigIntStats;
  role: EntryRole;
  /** for directories: their lower contents are hidden */
  opaque: boolean;
}

function names(dir: string): string[] {
  return readdirSync(dir).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
}

export function* walkLayer(root: string, driver: DriverName, rel = ''): Generator<LayerEntry> {
  for (const name of names(rel ? join(root, rel) : root)) {
    const r = rel ? `${rel}/${name}` : name;
    const abs = join(root, r);
    const st = lstatSync(abs, { bigint: true });
    const role = roleOf(r, st, driver);
    const opaque = st.isDirectory() && role.role === 'content' && isOpaqueDir(abs, driver);
    yield { rel: r, abs, st, role, opaque };
    if (st.isDirectory() && role.role === 'content') yield* walkLayer(root, driver, r);
  }
}
