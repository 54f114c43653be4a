/**
 * Extended attributes and device nodes, which Node's fs has no API for:
 * overlayfs marks opaque directories with the `trusted.overlay.opaque`
 * xattr and deleted files with 0/0 character devices (whiteouts), and OCI
 * layers carry xattrs. The l* calls never follow symlinks.
 */
import { koffi, libcTable } from './lib.js';
import { SysError } from './errors.js';

type Fn = (...args: unknown[]) => number | bigint;
const fns = libcTable<{ lget: Fn; llist: Fn; lset: Fn; mknod: Fn }>({
  lget: 'intptr_t lgetxattr(const char *path, const char *name, _Out_ void *value, size_t size)',
  llist: 'intptr_t llistxattr(const char *path, _Out_ void *list, size_t size)',
  lset: 'int lsetxattr(const char *path, const char *name, const void *value, size_t size, int flags)',
  // glibc >= 2.33 exports mknod itself (earlier: __xmknod)
  mknod: 'int mknod(const char *path, uint32_t mode, uint64_t dev)',
});

const ENODATA = 61;
const ENOTSUP = 95;
const ERANGE = 34;

/** Read a buffer whose size the kernel tells first; retry when it grew in between. */
function sized(call: (buf: Buffer | null, size: number) => number, syscall: string, path: string): Buffer | undefined {
  for (let i = 0; i < 4; i++) {
    const need = call(null, 0);
    if (need === -1) {
      const e = koffi().errno();
      if (e === ENODATA || e === ENOTSUP) return undefined;
      throw new SysError(syscall, e, path);
    }
    if (need === 0) return Buffer.alloc(0);
    const buf = Buffer.alloc(need);
    const got = call(buf, need);
    if (got >= 0) return buf.subarray(0, got);
    const e = koffi().errno();
    if (e === ENODATA || e === ENOTSUP) return undefined;
    if (e !== ERANGE) throw new SysError(syscall, e, path);
  }
  throw new SysError(syscall, ERANGE, path);
}

/** lgetxattr(2): the value, or undefined when the attribute (or xattr support) is absent. */
export function getxattr(path: string, name: string): Buffer | undefined {
  return sized((b, n) => Number(fns.lget(path, name, b, n)), 'lgetxattr', path);
}

/** llistxattr(2): the attribute names of a file (not following symlinks). */
export function listxattr(path: string): string[] {
  const buf = sized((b, n) => Number(fns.llist(path, b, n)), 'llistxattr', path);
  if (!buf || !buf.length) return [];
  return buf.toString('latin1').split('\0').filter(Boolean).map((s) => Buffer.from(s, 'latin1').toString());
}

/** lsetxattr(2); flags: 0, XATTR.CREATE or XATTR.REPLACE. */
export function setxattr(path: string, name: string, value: Buffer | string, flags = 0): void {
  const v = typeof value === 'string' ? Buffer.from(value) : value;
  if (Number(fns.lset(path, name, v, v.length, flags)) === -1) throw new SysError('lsetxattr', koffi().errno(), path);
}
export const XATTR = { CREATE: 1, REPLACE: 2 } as const;

/** File type bits for mknod(2). */
export const S_IF = { CHR: 0o020000, BLK: 0o060000, FIFO: 0o010000, REG: 0o100000 } as const;

/** makedev(3) as glibc encodes it. */
export function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major), mi = BigInt(minor);
  return ((ma & 0xfffn) << 8n) | ((ma & ~0xfffn) << 32n) | (mi & 0xffn) | ((mi & ~0xffn) << 12n);
}

/** mknod(2): a device node or FIFO (an overlay whiteout is mknod(path, S_IFCHR, 0)). */
export function mknod(path: string, mode: number, major = 0, minor = 0): void {
  if (Number(fns.mknod(path, mode, makedev(major, minor))) === -1) throw new SysError('mknod', koffi().errno(), path);
}
