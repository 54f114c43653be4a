/**
 * `run -it`: the container gets a pseudo-terminal. The pty is made here
 * (posix_openpt); the child becomes a session leader and opens the slave
 * as its controlling terminal before pivot_root (the path is the host's
 * devpts), which also appears as /dev/console inside. `run exec -t` takes
 * a pty of the container's own devpts (allocateTtyIn). This process relays
 * its own terminal (raw mode, so Ctrl-C/Ctrl-D reach the container's line
 * discipline as with `docker run -it`) and passes window size changes on.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { readMountinfo } from '@boxkit/common/mountinfo';
import { stdoutStream } from '@boxkit/common/stdio';
import { openPty, ptyPeer, rawOutput, setWinsize, type Step } from '@boxkit/native';

export interface Tty {
  master: number;
  /** the slave's path (/dev/pts/N of this process's devpts) */
  slave: string;
  /** or the slave open here (a container's devpts): the child gets it by fd; this process closes it once the child has it */
  slaveFd?: number;
}

export function allocateTty(): Tty {
  const t = openPty();
  if (process.stdout.isTTY) setWinsize(t.master, process.stdout.rows, process.stdout.columns);
  return t;
}

const O_RDWR = 2, O_NOCTTY = 0o400, O_NOFOLLOW = 0o400000, O_PATH = 0o10000000;
const PTMX = (5 << 8) | 2;

/**
 * `run exec -t`: a pty of the container's own devpts, so its slave is a /dev/pts/N the
 * container sees (tty, ttyname(3), stty on /dev/tty work; a pty of this host's devpts was
 * nameless there). Its ptmx is found through PID 1's root, opened as a path only (O_PATH,
 * not followed) and reopened only when it is the ptmx device (5:2) of a devpts mounted in the
 * container's mount namespace: a PID 1 that put another device node there (CAP_MKNOD, a
 * chroot of its own) never has it opened by this host-side process, and one whose /dev leads
 * elsewhere by a symlink this process follows from the host's root (to /proc/OTHER/root/dev)
 * never gets another container's or the host's pty. Undefined when there is none such: the
 * caller falls back to allocateTty.
 */
export function allocateTtyIn(pid: number): Tty | undefined {
  let path: number | undefined;
  let master: number | undefined;
  let slaveFd: number | undefined;
  try {
    path = openSync(`/proc/${pid}/root/dev/pts/ptmx`, O_PATH | O_NOFOLLOW);
    const st = fstatSync(path, { bigint: true });
    if (!st.isCharacterDevice() || st.rdev !== BigInt(PTMX) || !devptsOf(pid).has(devName(st.dev))) return undefined;
    master = openSync(`/proc/self/fd/${path}`, O_RDWR | O_NOCTTY);
    slaveFd = ptyPeer(master);
    if (process.stdout.isTTY) setWinsize(master, process.stdout.rows, process.stdout.columns);
    return { master, slave: '', slaveFd };
  } catch {
    // (ptyPeer closed the master when it failed)
    for (const fd of slaveFd !== undefined ? [master, slaveFd] : []) if (fd !== undefined) closeSync(fd);
    return undefined;
  } finally {
    if (path !== undefined) closeSync(path);
  }
}

/** A device number as mountinfo writes it (MAJOR:MINOR; Linux's dev_t encoding). */
function devName(dev: bigint): string {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return `${major}:${minor}`;
}

/** The devpts instances mounted in `pid`'s mount namespace. */
function devptsOf(pid: number): Set<string> {
  return new Set(readMountinfo(`/proc/${pid}/mountinfo`).filter((m) => m.fstype === 'devpts').map((m) => m.dev));
}

/** Steps, before WAIT_SYNC: a new session whose controlling terminal is the slave, on fds 0-2. */
export function ttySteps(t: Tty): Step[] {
  // a slave given by fd becomes the controlling terminal when opened again (after setsid, without O_NOCTTY)
  const open: Step[] = t.slaveFd !== undefined
    ? [{ op: 'DUP2', ints: [t.slaveFd, 0] }, { op: 'OPEN', ints: [0, O_RDWR], strs: ['/proc/self/fd/0'] }]
    : [{ op: 'OPEN', ints: [0, O_RDWR], strs: [t.slave] }];
  return [{ op: 'SETSID' }, ...open, { op: 'DUP2', ints: [0, 1] }, { op: 'DUP2', ints: [0, 2] }];
}

/**
 * Relay this terminal and the pty until `done` resolves, then drain the pty and restore the terminal.
 * The stream owns the master fd: it closes it when it reads EIO (every slave fd closed: all output
 * read) or is destroyed. Nothing here touches that fd number after that: by then it may be another
 * file's (this process opens files in the meantime), and typed input, a window size or a drain would
 * go to it.
 */
export function relay(t: Tty, done: Promise<unknown>): void {
  const out = new ReadStream(t.master);
  out.on('data', (d: Buffer) => stdoutStream().write(d));
  out.on('error', () => {}); // EIO once the last slave fd closes: the container is gone
  const open = () => !out.destroyed;
  const stdin = process.stdin;
  const raw = stdin.isTTY;
  if (raw) {
    stdin.setRawMode(true);
    try {
      rawOutput(0);
    } catch {
      // the output stays as Node's raw mode leaves it
    }
  }
  const write = (d: Buffer) => {
    if (!open()) return;
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
    if (!open()) return;
    try {
      setWinsize(t.master, process.stdout.rows, process.stdout.columns);
    } catch {
      // gone
    }
  };
  process.stdout.on('resize', resize);
  void done.then(() => {
    if (open()) {
      out.pause();
      drain(t.master);
    }
    if (raw) stdin.setRawMode(false);
    stdin.off('data', write);
    stdin.pause();
    process.stdout.off('resize', resize);
    out.destroy(); // closes the master, once
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

