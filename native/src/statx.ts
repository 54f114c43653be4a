/**
 * statx(2) for what Node's fs.statSync leaves out: a file's birth time with
 * the kernel's word that it is one (statxFile: stx_mask's STATX_BTIME); the
 * mount a path is on (stx_mnt_id); and a bind made in two steps (open_tree, move_mount), so
 * that the mount's id is known before it is attached anywhere. Since Linux 6.8 statx gives, asked for STATX_MNT_ID_UNIQUE,
 * the mount's 64-bit unique id (never given to another mount until reboot);
 * before, the id mountinfo shows (STATX_MNT_ID, 5.8+), which the kernel
 * gives again to the next mount made once this one is gone (the lowest free).
 */
import { koffi, libcTable } from './lib.js';
import { SysError } from './errors.js';
import { makedev } from './xattr.js';

const fns = libcTable<{ statx: (...a: unknown[]) => number; syscall: (...a: unknown[]) => number }>({
  statx: 'int statx(int dirfd, const char *path, int flags, unsigned int mask, _Out_ void *buf)',
  syscall: 'long syscall(long number, ...)',
});

/** statx mask bits (linux/stat.h). */
export const STATX = { TYPE: 0x1, CTIME: 0x80, INO: 0x100, BTIME: 0x800, MNT_ID: 0x1000, MNT_ID_UNIQUE: 0x4000 } as const;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const AT_EMPTY_PATH = 0x1000;

/** A file's identity and birth time as statx(2) gives them (statxFile). */
export interface FileStat {
  /** stx_mask: the fields the kernel filled; STATX.BTIME only where the file system keeps birth times. */
  mask: number;
  /** stx_mode (file type and permissions). */
  mode: number;
  /** st_dev as Node's fs.statSync({ bigint: true }) gives it (glibc's makedev of stx_dev_major, stx_dev_minor). */
  dev: bigint;
  /** stx_ino, all 64 bits (a number loses them from 2^53 on: overlayfs' xino sets the high ones). */
  ino: bigint;
  /** stx_btime in ns: the birth time only when `mask` has STATX.BTIME (else 0, or whatever the kernel left): see bornKnown. */
  btimeNs: bigint;
  /** stx_ctime in ns. */
  ctimeNs: bigint;
}

/** Does the kernel vouch for statx's stx_btime (stx_mask has STATX_BTIME)? Else the time there is no proof of when the file was made. */
export const bornKnown = (s: Pick<FileStat, 'mask'>): boolean => (s.mask & STATX.BTIME) !== 0;

/**
 * statx(PATH) for the file's identity and its birth time, with the mask
 * that says whether the kernel vouches for that time. Node's fs.statSync
 * reports one even where statx is refused (a seccomp filter; before Linux
 * 4.11): libuv's stat(2) fallback fills birthtime with the change time,
 * which a chmod moves. `follow`: false is lstat's view of a symlink.
 * Throws a SysError (ENOENT ...; where statx is refused: EPERM or ENOSYS
 * (a seccomp filter, a kernel before 4.11), EOPNOTSUPP or EINVAL (a file
 * system or sandbox declining it), on all of which Node's stat falls back).
 */
export function statxFile(path: string, follow = true): FileStat {
  const buf = Buffer.alloc(256);
  // (CTIME asked too, as Node's stat asks it: on a kernel with multigrain timestamps (6.13+) a file whose change
  // time was looked at gets a fine-grained one at its next change, and so does a file made after it; asked for
  // none, a fifo removed and made again at its path within one clock tick got the same inode and birth time)
  const rc = fns.statx(AT_FDCWD, path, follow ? 0 : AT_SYMLINK_NOFOLLOW, STATX.TYPE | STATX.INO | STATX.CTIME | STATX.BTIME, buf);
  if (Number(rc) === -1) throw new SysError('statx', koffi().errno(), path);
  const ns = (at: number) => buf.readBigInt64LE(at) * 1_000_000_000n + BigInt(buf.readUInt32LE(at + 8));
  return { mask: buf.readUInt32LE(0x00), mode: buf.readUInt16LE(0x1c), dev: makedev(buf.readUInt32LE(0x88), buf.readUInt32LE(0x8c)), ino: buf.readBigUInt64LE(0x20), btimeNs: ns(0x50), ctimeNs: ns(0x60) };
}

/** The mount PATH (symlinks followed) is on, and the file's identity there. */
export interface MountStat {
  /** stx_mnt_id, as decimal text (64 bits). */
  mntId: string;
  /** The id is the unique one (6.8+), not mountinfo's reusable one. */
  unique: boolean;
  /** st_dev as Node's fs.statSync gives it (glibc's makedev of stx_dev_major, stx_dev_minor). */
  dev: number;
  ino: number;
  /** stx_ctime in ns, decimal text. */
  ctimeNs: string;
}

/**
 * statx(PATH) (symlinks followed), or of an open fd (a detached mount
 * open_tree made), for its mount id: the unique one where the kernel has it
 * (unless `unique` is false: mountinfo's id, as a kernel before 6.8 gives).
 * Throws a SysError (ENOENT ...); one without any mount id (before 5.8) is ENOSYS.
 */
export function statxMount(target: string | number, unique = true): MountStat {
  const buf = Buffer.alloc(256);
  const mask = STATX.INO | STATX.CTIME | (unique ? STATX.MNT_ID_UNIQUE : STATX.MNT_ID);
  const name = typeof target === 'number' ? `fd ${target}` : target;
  const rc = typeof target === 'number' ? fns.statx(target, '', AT_EMPTY_PATH, mask, buf) : fns.statx(AT_FDCWD, target, 0, mask, buf);
  if (Number(rc) === -1) throw new SysError('statx', koffi().errno(), name);
  const got = buf.readUInt32LE(0x00);
  const isUnique = (got & STATX.MNT_ID_UNIQUE) !== 0;
  if (!isUnique && (got & STATX.MNT_ID) === 0) throw new SysError('statx', 38 /* ENOSYS */, name);
  // glibc's makedev, as libuv's stat reports st_dev
  const dev = makedev(buf.readUInt32LE(0x88), buf.readUInt32LE(0x8c));
  const ctimeNs = buf.readBigInt64LE(0x60) * 1_000_000_000n + BigInt(buf.readUInt32LE(0x68));
  return { mntId: String(buf.readBigUInt64LE(0x90)), unique: isUnique, dev: Number(dev), ino: Number(buf.readBigUInt64LE(0x20)), ctimeNs: String(ctimeNs) };
}

// open_tree(2), move_mount(2): Linux 5.2, one number on every architecture (the unified syscall table)
const SYS_OPEN_TREE = 428;
const SYS_MOVE_MOUNT = 429;
const OPEN_TREE_CLONE = 1;
const O_CLOEXEC = 0o2000000;
/** move_mount: the source is the fd itself; the target's symlinks and automounts followed, as mount(2) does. */
const MOVE_MOUNT_F_EMPTY_PATH = 0x4;
const MOVE_MOUNT_T_SYMLINKS = 0x10;
const MOVE_MOUNT_T_AUTOMOUNTS = 0x20;

/**
 * open_tree(PATH, OPEN_TREE_CLONE): a bind mount of PATH (its own mount,
 * not its submounts) attached nowhere yet, as an fd; it goes with the fd
 * unless move_mount attached it. ENOSYS before Linux 5.2.
 */
export function openTreeClone(path: string): number {
  const fd = Number(fns.syscall(SYS_OPEN_TREE, 'int', AT_FDCWD, 'const char *', path, 'unsigned int', OPEN_TREE_CLONE | O_CLOEXEC));
  if (fd === -1) throw new SysError('open_tree', koffi().errno(), path);
  return fd;
}

/** move_mount(FD, TARGET): attach the detached mount `fd` (openTreeClone) at `target`; it keeps its mount id. */
export function moveMountTo(fd: number, target: string): void {
  const rc = Number(fns.syscall(SYS_MOVE_MOUNT, 'int', fd, 'const char *', '', 'int', AT_FDCWD, 'const char *', target, 'unsigned int', MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS | MOVE_MOUNT_T_AUTOMOUNTS));
  if (rc === -1) throw new SysError('move_mount', koffi().errno(), target);
}
