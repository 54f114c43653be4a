/**
 * Output without process.stdout/process.stderr: creating those streams
 * costs ~4 ms per start (measured), more than anything else ns-clone does
 * on its hot path, and a successful run prints nothing. Writes are
 * synchronous, so nothing needs draining before exit.
 */
import { writeSync } from 'node:fs';

function writeAll(fd: number, text: string): void {
  const buf = Buffer.from(text);
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      // an inherited non-blocking pipe that is full: wait for the reader
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
    }
  }
}

/** A line on stdout (data). */
export const out = (line: string): void => writeAll(1, `${line}\n`);
/** A line on stderr (diagnostics). */
export const err = (line: string): void => writeAll(2, `${line}\n`);
