/**
 * Output without process.stdout/process.stderr: creating those streams
 * costs ~4 ms per start (measured on ns-clone: a net.Socket for a pipe, a
 * SyncWriteStream for a file), more than anything else a tool's hot path
 * does, and a tool that prints a line or nothing does not need them. These
 * writes are synchronous, so nothing needs draining before exit.
 */
import { writeSync } from 'node:fs';
import { sleepSync } from './sleep.js';

/** fds whose reader has gone (EPIPE) */
const gone = new Set<number>();
/** stderr that cannot be written (ENOSPC, EBADF...): diagnostics go nowhere */
const dropped = new Set<number>();
let diverted: ((text: string) => void) | undefined;

/**
 * Send what would go to stderr to `to` instead, until called with nothing:
 * run's keeper hands a start's diagnostics (-v steps, the libraries'
 * warnings) back to `run -d`, its own fd 2 being /dev/null.
 */
export function divertStderr(to?: (text: string) => void): void {
  diverted = to;
}

/**
 * Write all of `data` to `fd`. False once its reader has gone (EPIPE: `|
 * head -1`): the rest is dropped quietly, as `ls | head` does, and a loop
 * that follows or watches (`logs -f`, `stats --watch`) ends, as `tail -f`
 * does (node ignores SIGPIPE, so nothing else would tell it). Any other
 * failure is the command's (one line, exit 1), but on stderr, where
 * diagnostics have nowhere else to go: dropped, unless `opts.data` says
 * stderr carries data too (`run logs`: the container's stderr).
 */
export function writeAll(fd: number, data: string | Uint8Array, opts: { data?: boolean } = {}): boolean {
  if (fd === 2 && diverted) {
    diverted(typeof data === 'string' ? data : Buffer.from(data).toString());
    return true;
  }
  if (gone.has(fd)) return false;
  if (dropped.has(fd) && !opts.data) return true;
  const buf = typeof data === 'string' ? Buffer.from(data) : data;
  let off = 0;
  while (off < buf.length) {
    try {
      off += writeSync(fd, buf, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EPIPE') {
        gone.add(fd);
        return false;
      }
      // an inherited non-blocking pipe that is full: wait for the reader
      if (code === 'EAGAIN') {
        sleepSync(1);
        continue;
      }
      // stderr's diagnostics cannot say they failed: dropped (their reader is not gone: true)
      if (fd === 2 && !opts.data) {
        dropped.add(fd);
        return true;
      }
      throw cannotWrite(e as NodeJS.ErrnoException, fd);
    }
  }
  return true;
}

/**
 * A failed write of the output (`> /dev/full`: ENOSPC, a closed or
 * read-only fd: EBADF) as one line, `cannot write to standard output: no
 * space left on device`, its errno code kept: Node's text was 'no space
 * left on device, write', or a stack trace from yargs' --help.
 */
export function cannotWrite(e: NodeJS.ErrnoException, fd = 1): NodeJS.ErrnoException {
  const why = e.message.replace(/^\w+: /, '').replace(/, write$/, '');
  const where = fd === 1 ? 'standard output' : fd === 2 ? 'standard error' : `fd ${fd}`;
  return Object.assign(new Error(`cannot write to ${where}: ${why}`), { code: e.code, errno: e.errno });
}

/** A line on stdout (data). */
export const out = (line: string): void => void writeAll(1, `${line}\n`);
/** A line on stderr (diagnostics). */
export const err = (line: string): void => void writeAll(2, `${line}\n`);
/** A step of -v on stderr, as `sh -x` shows it. */
export const trace = (line: string): void => err(`+ ${line}`);

let streamed = false;
/**
 * process.stdout, for code that needs the stream (a relay of a container's
 * terminal, `logs -f`): noted, so that afterStdout waits for what it queued.
 */
export function stdoutStream(): NodeJS.WriteStream {
  streamed = true;
  return process.stdout;
}
/** Run `done` once everything written to stdout is out: at once unless the stream was used. */
export function afterStdout(done: () => void): void {
  if (streamed) process.stdout.write('', done);
  else done();
}
