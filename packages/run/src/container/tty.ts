/**
 * `run -it`: the container gets a pseudo-terminal. The pty is made here
 * (posix_openpt); the child becomes a session leader and opens the slave
 * as its controlling terminal before pivot_root (the path is the host's
 * devpts), which also appears as /dev/console inside. This process relays
 * its own terminal (raw mode, so Ctrl-C/Ctrl-D reach the container's line
 * discipline as with `docker run -it`) and passes window size changes on.
 */
import { closeSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { openPty, setWinsize, type Step } from '@boxkit/native';

export interface Tty {
  master: number;
  slave: string;
}

export function allocateTty(): Tty {
  const t = openPty();
  if (process.stdout.isTTY) setWinsize(t.master, process.stdout.rows, process.stdout.columns);
  return t;
}

const O_RDWR = 2;

/** Steps, before WAIT_SYNC: a new session whose controlling terminal is the slave, on fds 0-2. */
export function ttySteps(t: Tty): Step[] {
  return [
    { op: 'SETSID' },
    { op: 'OPEN', ints: [0, O_RDWR], strs: [t.slave] },
    { op: 'DUP2', ints: [0, 1] },
    { op: 'DUP2', ints: [0, 2] },
  ];
}

/** Relay between this terminal and the pty until `done` resolves; returns a function that restores the terminal. */
export function relay(t: Tty, done: Promise<unknown>): void {
  const out = new ReadStream(t.master);
  out.on('data', (d: Buffer) => process.stdout.write(d));
  out.on('error', () => {}); // EIO once the last slave fd closes: the container is gone
  const stdin = process.stdin;
  const raw = stdin.isTTY;
  if (raw) stdin.setRawMode(true);
  const write = (d: Buffer) => {
    try {
      writeSync(t.master, d);
    } catch {
      // container gone
    }
  };
  stdin.on('data', write);
  // stdin closed (a pipe): what Ctrl-D would say
  stdin.on('end', () => write(Buffer.from([4])));
  const resize = () => {
    try {
      setWinsize(t.master, process.stdout.rows, process.stdout.columns);
    } catch {
      // gone
    }
  };
  process.stdout.on('resize', resize);
  void done.then(() => {
    if (raw) stdin.setRawMode(false);
    stdin.off('data', write);
    stdin.pause();
    process.stdout.off('resize', resize);
    out.destroy();
    try {
      closeSync(t.master);
    } catch {
      // closed by the stream
    }
  });
}
