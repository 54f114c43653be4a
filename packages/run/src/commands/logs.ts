/** `run logs NAME [-f]`: a detached container's stdout and stderr, kept in files. */
import { closeSync, openSync, readSync } from 'node:fs';
import { BoxkitError } from '@boxkit/common';
import { isAlive, load } from '../state/store.js';
import { mustFind } from './lookup.js';

/** Copy new bytes from `path` (starting at `pos`) to `out`; returns the new position. */
function pump(path: string, pos: number, out: NodeJS.WriteStream): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return pos;
  }
  try {
    const buf = Buffer.alloc(65536);
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n <= 0) return pos;
      out.write(buf.subarray(0, n));
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

export async function logs(a: { name: string; follow: boolean }): Promise<number> {
  const rec = mustFind(a.name);
  if (!rec.logs) throw new BoxkitError('ENOLOGS', `${rec.name}: no logs: only detached (-d) containers keep their output`);
  let out = pump(rec.logs.stdout, 0, process.stdout);
  let err = pump(rec.logs.stderr, 0, process.stderr);
  if (!a.follow) return 0;
  for (;;) {
    await new Promise((r) => setTimeout(r, 100));
    out = pump(rec.logs.stdout, out, process.stdout);
    err = pump(rec.logs.stderr, err, process.stderr);
    const cur = load(rec.name);
    if (!cur || !isAlive(cur)) {
      pump(rec.logs.stdout, out, process.stdout);
      pump(rec.logs.stderr, err, process.stderr);
      return 0;
    }
  }
}
