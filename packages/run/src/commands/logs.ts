/** `run logs NAME [-f] [--tail N]`: a detached container's stdout and stderr, kept in files. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BoxkitError, UsageError } from '@boxkit/common';
import { isAlive, load } from '../state/store.js';
import { mustFind } from './lookup.js';
import { writeAll } from '@boxkit/common/stdio';

/**
 * Copy new bytes from `fd` (starting at `pos`) to fd `to` (1 or 2); returns the new position, or
 * undefined once the reader of `to` has gone (EPIPE: `logs -f web | head -2`), as tail -f ends.
 * Through common's writeAll, not process.stdout: the stream keeps EPIPE quiet and stays open,
 * so the follow went on forever after head had left.
 */
function pump(fd: number | undefined, pos: number, to: 1 | 2): number | undefined {
  if (fd === undefined) return pos;
  const buf = Buffer.alloc(65536);
  for (;;) {
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n <= 0) return pos;
    if (!writeAll(to, buf.subarray(0, n), { data: true })) return undefined; // (the container's stderr is data)
    pos += n;
  }
}

function openLog(path: string): number | undefined {
  try {
    return openSync(path, 'r');
  } catch {
    return undefined;
  }
}

/**
 * Where the last `lines` lines of a file begin (docker logs --tail): read
 * backwards a block at a time, so a long log is not read whole. A last line
 * without its newline counts as a line.
 */
export function tailStart(path: string, lines: number): number {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return 0;
  }
  try {
    const size = fstatSync(fd).size;
    if (lines <= 0) return size;
    const buf = Buffer.alloc(65536);
    let end = size;
    let seen = 0;
    // the file's own last newline ends its last line, it does not start one
    let skip = true;
    while (end > 0) {
      const start = Math.max(0, end - buf.length);
      const n = readSync(fd, buf, 0, end - start, start);
      for (let i = n - 1; i >= 0; i--) {
        if (buf[i] !== 10) {
          skip = false;
          continue;
        }
        if (skip) {
          skip = false;
          continue;
        }
        if (++seen === lines) return start + i + 1;
      }
      end = start;
    }
    return 0;
  } finally {
    closeSync(fd);
  }
}

/** --tail: a number of lines, or all (docker's default). */
export function parseTail(v: string | number | undefined): number | undefined {
  if (v === undefined || v === 'all') return undefined;
  const s = String(v).trim();
  if (!/^\d+$/.test(s)) throw new UsageError(`invalid --tail '${s}'`, 'a number of lines, or all');
  return Number(s);
}

export async function logs(a: { name: string; follow: boolean; tail?: string | number }): Promise<number> {
  const tail = parseTail(a.tail);
  const rec = mustFind(a.name);
  if (!rec.logs) throw new BoxkitError('ENOLOGS', `${rec.name}: no logs: only detached (-d) containers keep their output`);
  // the files this container writes, opened once: what it wrote last is still read after an rm
  // has deleted them, and never a later container's files under the same name
  const fds = [openLog(rec.logs.stdout), openLog(rec.logs.stderr)] as const;
  try {
    let out = pump(fds[0], tail === undefined ? 0 : tailStart(rec.logs.stdout, tail), 1);
    let err = pump(fds[1], tail === undefined ? 0 : tailStart(rec.logs.stderr, tail), 2);
    if (!a.follow || out === undefined || err === undefined) return 0;
    for (;;) {
      await new Promise((r) => setTimeout(r, 100));
      out = pump(fds[0], out, 1);
      err = pump(fds[1], err, 2);
      if (out === undefined || err === undefined) return 0;
      // followed by its id, as docker: removed, or its name now another container's, is gone
      const cur = load(rec.name);
      if (!cur || cur.id !== rec.id || !isAlive(cur)) {
        if (pump(fds[0], out, 1) !== undefined) pump(fds[1], err, 2);
        return 0;
      }
    }
  } finally {
    for (const fd of fds) if (fd !== undefined) closeSync(fd);
  }
}
