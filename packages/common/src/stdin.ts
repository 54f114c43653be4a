import { readSync } from 'node:fs';
import { sleepSync } from './sleep.js';

/**
 * Read all of stdin synchronously (for `-` arguments: PIDs, JSON lines). A
 * pipe shared with a Node parent may be non-blocking, so EAGAIN means "not
 * yet", not the end of input: only EOF ends it.
 */
export function readStdin(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EINTR') {
        sleepSync(5);
        continue;
      }
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Expand `-` in a list of arguments into the whitespace-separated words of stdin. */
export function expandStdinArgs(args: readonly (string | number)[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (String(a) === '-') out.push(...readStdin().split(/\s+/).filter(Boolean));
    else out.push(String(a));
  }
  return out;
}
