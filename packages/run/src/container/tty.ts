/**
 * `run -it`: the container gets a pseudo-terminal. The pty is made here
 * (posix_openpt); the child becomes a session leader and opens the slave
 * as its controlling terminal before pivot_root (the path is the host's
 * devpts), which also appears as /dev/console inside. This process relays
 * its own terminal (raw mode, so Ctrl-C/Ctrl-D reach the container's line
 * discipline as with `docker run -it`) and passes window size changes on.
 */
import { closeSync, readSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { stdoutStream } from '@boxkit/common/stdio';
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
  out.on('data', (d: Buffer) => stdoutStream().write(d));
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
    out.pause();
    drain(t.master);
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

/**
 * Copy what the container wrote before it exited and the stream has not read
 * yet. The kernel moves pty data to the master side in a worker, so right
 * after the exit a read can find nothing (EAGAIN) although output is on its
 * way (seen: `run -it -- stty size` printing nothing now and then); EIO says
 * the slave side is closed and everything has been read.
 */
function drain(master: number): void {
  const buf = Buffer.alloc(65536);
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (let waited = 0; waited < 500; ) {
    let n: number;
    try {
      n = readSync(master, buf, 0, buf.length, null);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') return; // EIO: all read
      Atomics.wait(nap, 0, 0, 2);
      waited += 2;
      continue;
    }
    if (n <= 0) return;
    stdoutStream().write(Buffer.from(buf.subarray(0, n)));
  }
}

