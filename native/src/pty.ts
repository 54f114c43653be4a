/**
 * Pseudo-terminals, which Node has no API for: `run -it` gives the
 * container a pty whose master end the tool relays to its own terminal.
 * posix_openpt/grantpt/unlockpt/ptsname_r and ioctl(TIOCSWINSZ) are safe
 * from a multithreaded process.
 */
import { koffi, libcTable } from './lib.js';
import { SysError } from './errors.js';

type Fn = (...args: unknown[]) => number;
const fns = libcTable<{ open: Fn; grant: Fn; unlock: Fn; name: Fn; ioctl: Fn; close: Fn; tcget: Fn; tcset: Fn }>({
  tcget: 'int tcgetattr(int fd, _Out_ void *termios)',
  tcset: 'int tcsetattr(int fd, int action, const void *termios)',
  open: 'int posix_openpt(int flags)',
  grant: 'int grantpt(int fd)',
  unlock: 'int unlockpt(int fd)',
  name: 'int ptsname_r(int fd, _Out_ char *buf, size_t len)',
  ioctl: 'int ioctl(int fd, unsigned long req, ...)',
  close: 'int close(int fd)',
});

const O_RDWR = 2, O_NOCTTY = 0o400, O_CLOEXEC = 0o2000000;
const TIOCSWINSZ = 0x5414;
const TIOCSPTLCK = 0x40045431; // _IOW('T', 0x31, int): lock (1) or unlock (0) the slave
const TIOCGPTPEER = 0x5441; // _IO('T', 0x41): an fd of the slave, opened through the master (Linux 4.13)

/** A new pty: the master fd (close-on-exec) and the slave's path (/dev/pts/N). */
export function openPty(): { master: number; slave: string } {
  const l = fns;
  const master = l.open(O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) throw new SysError('posix_openpt', koffi().errno(), '/dev/ptmx');
  const buf = Buffer.alloc(128);
  if (l.grant(master) !== 0 || l.unlock(master) !== 0 || l.name(master, buf, buf.length) !== 0) {
    const e = koffi().errno();
    fns.close(master);
    throw new SysError('unlockpt', e, '/dev/ptmx');
  }
  return { master, slave: buf.subarray(0, buf.indexOf(0)).toString() };
}

/** Set a terminal's window size (TIOCSWINSZ): the container's programs see it and get SIGWINCH. */
export function setWinsize(fd: number, rows: number, cols: number): void {
  const ws = Buffer.alloc(8);
  ws.writeUInt16LE(rows, 0);
  ws.writeUInt16LE(cols, 2);
  if (fns.ioctl(fd, TIOCSWINSZ, 'void *', ws) !== 0) throw new SysError('ioctl', koffi().errno(), 'TIOCSWINSZ');
}

/**
 * A new pty of the devpts instance whose ptmx `master` was opened from (a container's
 * /dev/pts/ptmx): the slave is unlocked and opened through the master (TIOCGPTPEER), with no
 * path lookup, so it is that instance's /dev/pts/N, the name the container sees. Returns the
 * slave fd (no close-on-exec: a child inherits it); closes `master` when it fails.
 */
export function ptyPeer(master: number): number {
  const unlock = Buffer.alloc(4);
  const slave = fns.ioctl(master, TIOCSPTLCK, 'void *', unlock) === 0 ? fns.ioctl(master, TIOCGPTPEER, 'int', O_RDWR | O_NOCTTY) : -1;
  if (slave < 0) {
    const e = koffi().errno();
    fns.close(master);
    throw new SysError('ioctl', e, 'TIOCGPTPEER');
  }
  return slave;
}

const OPOST = 0o1; // c_oflag: output processing (ONLCR's \n -> \r\n among it)

/**
 * Turn a terminal's output processing off (cfmakeraw's OPOST), what Node's raw mode keeps on:
 * relaying a pty whose own line discipline already wrote \r\n, this terminal added a second
 * \r (\r\r\n, as docker's MakeRaw avoids). Node's setRawMode(false) restores it with the rest.
 */
export function rawOutput(fd: number): void {
  const t = Buffer.alloc(64); // struct termios: 60 bytes on Linux (c_oflag at 4)
  if (fns.tcget(fd, t) !== 0) throw new SysError('tcgetattr', koffi().errno());
  t.writeUInt32LE(t.readUInt32LE(4) & ~OPOST, 4);
  if (fns.tcset(fd, 0, t) !== 0) throw new SysError('tcsetattr', koffi().errno());
}
