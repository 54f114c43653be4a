/**
 * Pseudo-terminals, which Node has no API for: `run -it` gives the
 * container a pty whose master end the tool relays to its own terminal.
 * posix_openpt/grantpt/unlockpt/ptsname_r and ioctl(TIOCSWINSZ) are safe
 * from a multithreaded process.
 */
import { koffi, libcTable } from './lib.js';
import { SysError } from './errors.js';

type Fn = (...args: unknown[]) => number;
const fns = libcTable<{ open: Fn; grant: Fn; unlock: Fn; name: Fn; ioctl: Fn; close: Fn }>({
  open: 'int posix_openpt(int flags)',
  grant: 'int grantpt(int fd)',
  unlock: 'int unlockpt(int fd)',
  name: 'int ptsname_r(int fd, _Out_ char *buf, size_t len)',
  ioctl: 'int ioctl(int fd, unsigned long req, ...)',
  close: 'int close(int fd)',
});

const O_RDWR = 2, O_NOCTTY = 0o400, O_CLOEXEC = 0o2000000;
const TIOCSWINSZ = 0x5414;

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
