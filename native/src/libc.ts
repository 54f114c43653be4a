/**
 * Typed libc bindings (koffi). Every call is synchronous, so koffi.errno() is
 * valid right after it; a -1 becomes a SysError naming the call and object.
 */
import { koffi, koffiLoaded, libcFn, libcTable } from './lib.js';
import { SysError } from './errors.js';
import { MNT } from './constants.js';

type Fn = (...args: unknown[]) => number;
interface Libc {
  unshare: Fn; setns: Fn; sethostname: Fn; mount: Fn; umount2: Fn; chroot: Fn; chdir: Fn;
  kill: Fn; prctl: Fn; waitpid: Fn; getpid: Fn; getuid: Fn; geteuid: Fn; getgid: Fn; execve: Fn;
  fcntl: Fn; signal: Fn; close_range: Fn; flock: Fn; syscall: Fn; open: Fn; close: Fn; mkfifo: Fn;
}
const PROTOS: Record<keyof Libc, string> = {
  unshare: 'int unshare(int flags)',
  setns: 'int setns(int fd, int nstype)',
  sethostname: 'int sethostname(const char *name, size_t len)',
  mount: 'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
  umount2: 'int umount2(const char *target, int flags)',
  chroot: 'int chroot(const char *path)',
  chdir: 'int chdir(const char *path)',
  kill: 'int kill(int pid, int sig)',
  prctl: 'int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)',
  waitpid: 'int waitpid(int pid, _Out_ int *status, int options)',
  getpid: 'int getpid()',
  getuid: 'uint32_t getuid()',
  geteuid: 'uint32_t geteuid()',
  getgid: 'uint32_t getgid()',
  execve: 'int execve(const char *path, const char **argv, const char **envp)',
  fcntl: 'int fcntl(int fd, int cmd, ...)',
  signal: 'void *signal(int sig, void *handler)',
  close_range: 'int close_range(unsigned int first, unsigned int last, int flags)',
  flock: 'int flock(int fd, int op)',
  syscall: 'long syscall(long number, ...)',
  open: 'int open(const char *path, int flags, ...)',
  close: 'int close(int fd)',
  mkfifo: 'int mkfifo(const char *path, uint32_t mode)',
};

const libc = libcTable<Libc>(PROTOS);


/** Throw a SysError when a call returned -1. */
function check(rc: number | bigint, syscall: string, path?: string): number {
  const n = Number(rc);
  if (n === -1) throw new SysError(syscall, koffi().errno(), path);
  return n;
}

export function unshare(flags: number): void {
  check(libc.unshare(flags), 'unshare');
}
export function setns(fd: number, nstype: number, path?: string): void {
  check(libc.setns(fd, nstype), 'setns', path);
}
export function sethostname(name: string): void {
  check(libc.sethostname(name, Buffer.byteLength(name)), 'sethostname', name);
}
export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check(libc.mount(source, target, fstype, flags, data), 'mount', target);
}
export function umount2(target: string, flags = 0): void {
  check(libc.umount2(target, flags), 'umount', target);
}
/** Unmount, succeeding when nothing is mounted there (EINVAL) or the path is gone. */
export function umountIfMounted(target: string, lazy = false): boolean {
  try {
    umount2(target, lazy ? MNT.DETACH : 0);
    return true;
  } catch (e) {
    if (e instanceof SysError && (e.code === 'EINVAL' || e.code === 'ENOENT')) return false;
    throw e;
  }
}
/** mkfifo(3): Node has no API for named pipes. */
export function mkfifo(path: string, mode = 0o600): void {
  check(libc.mkfifo(path, mode), 'mkfifo', path);
}
export function chroot(path: string): void {
  check(libc.chroot(path), 'chroot', path);
}
export function chdir(path: string): void {
  check(libc.chdir(path), 'chdir', path);
}
/**
 * pidfd_open(2): an fd that names this process, not its PID: once the
 * process ends it never names another one with the same PID.
 */
export function pidfdOpen(pid: number): number {
  return check(libc.syscall(434, 'int', pid, 'unsigned int', 0), 'pidfd_open', String(pid));
}
export function kill(pid: number, sig: number): void {
  check(libc.kill(pid, sig), 'kill', String(pid));
}
export function prctl(option: number, a2 = 0, a3 = 0, a4 = 0, a5 = 0): number {
  return check(libc.prctl(option, a2, a3, a4, a5), 'prctl');
}
export const PR = { SET_PDEATHSIG: 1, SET_NAME: 15, SET_NO_NEW_PRIVS: 38, SET_CHILD_SUBREAPER: 36 } as const;

/** waitpid(pid, WNOHANG|__WALL): the raw status once reaped, undefined while running. */
export function reapNoHang(pid: number): number | undefined {
  const st = [0];
  const rc = check(libc.waitpid(pid, st, 1 | 0x40000000), 'waitpid', String(pid));
  return rc === 0 ? undefined : (st[0] as number);
}
/**
 * End the process now with `code`, without Node's exit: its teardown (joining
 * the platform's threads, V8's heap) costs ~1 ms that a tool whose output
 * went out synchronously does not need. Only once koffi is loaded anyway;
 * otherwise process.exit().
 */
export function exitNow(code: number): never {
  if (koffiLoaded()) libcFn<(c: number) => void>('void _exit(int)')(code);
  process.exit(code);
}
export function getpid(): number {
  return libc.getpid();
}
export function getuid(): number {
  return libc.getuid();
}
export function geteuid(): number {
  return libc.geteuid();
}
export function getgid(): number {
  return libc.getgid();
}
/** flock(2) on an open fd: LOCK_SH 1, LOCK_EX 2, LOCK_UN 8, LOCK_NB 4. */
export function flock(fd: number, op: number, path?: string): void {
  check(libc.flock(fd, op), 'flock', path);
}
export const LOCK = { SH: 1, EX: 2, NB: 4, UN: 8 } as const;

/** Mark an fd this process was handed (not opened by Node) close-on-exec, so nothing it spawns holds it on. */
export function closeOnExec(fd: number): void {
  // close_range(fd, fd, CLOSE_RANGE_CLOEXEC) since Linux 5.11 (glibc 2.34); before it fcntl(F_SETFD)
  try {
    if (Number(libc.close_range(fd, fd, 4)) === 0) return;
  } catch {
    // no such symbol in this libc
  }
  const F_GETFD = 1, F_SETFD = 2;
  const flags = check(libc.fcntl(fd, F_GETFD), 'fcntl');
  check(libc.fcntl(fd, F_SETFD, 'int', flags | 1), 'fcntl');
}

/**
 * Replace this Node process with another program. Node marks fds 0-2
 * close-on-exec and (for pipes) non-blocking, and ignores SIGPIPE/SIGXFSZ;
 * all of that is undone first, or the new program would start without its
 * stdio and with signals ignored. Returns only on failure (throws).
 */
export async function execveReplace(path: string, argv: string[], env: Record<string, string | undefined>): Promise<never> {
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  await new Promise<void>((resolve) => process.stderr.write('', () => resolve()));
  const l = libc;
  const F_GETFD = 1, F_SETFD = 2, F_GETFL = 3, F_SETFL = 4, O_NONBLOCK = 0o4000;
  for (let fd = 0; fd < 3; fd++) {
    const fl = l.fcntl(fd, F_GETFL);
    if (fl < 0) continue;
    l.fcntl(fd, F_SETFL, 'int', fl & ~O_NONBLOCK);
    l.fcntl(fd, F_SETFD, 'int', l.fcntl(fd, F_GETFD) & ~1);
  }
  l.signal(13, null);
  l.signal(25, null);
  return execveNow(path, argv, env);
}

/**
 * execve() at once, synchronously, into a program that sets up its own stdio
 * and signals (bk-keeper): no await can come between a caller's last check
 * and the exec. Every fd from 3 up is closed by the exec. Returns only on
 * failure (throws), with the fds from 3 up left close-on-exec.
 */
export function execveNow(path: string, argv: string[], env: Record<string, string | undefined>): never {
  libc.close_range(3, 0xffffffff, 4);
  const envp = Object.entries(env).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}=${v}`);
  check(libc.execve(path, [...argv, null], [...envp, null]), 'execve', path);
  throw new Error('unreachable');
}
