/**
 * iptables-legacy's kernel interface, as libiptc uses it: IPT_SO_* socket
 * options on a raw IPv4 socket read a table's rule blob and replace the
 * whole table in one call (linux/netfilter_ipv4/ip_tables.h). iptPrepare
 * and its commit() edit and swap a table (native/c/iptblob.c, for
 * svcproxy); iptInfo and iptEntries read one as it is (the tests compare
 * the blobs with iptables-legacy-restore's).
 */
import { koffi, libcTable } from './lib.js';
import { SysError } from './errors.js';
import { nativeLibrary } from './trampoline.js';

type Fn = (...args: unknown[]) => number;
const fns = libcTable<{ socket: Fn; getsockopt: Fn; close: Fn }>({
  socket: 'int socket(int domain, int type, int protocol)',
  // (void * for the length too: a 4-byte Buffer, filled in by the kernel)
  getsockopt: 'int getsockopt(int fd, int level, int name, void *value, void *len)',
  close: 'int close(int fd)',
});

const AF_INET = 2, SOCK_RAW = 3, SOCK_CLOEXEC = 0o2000000, IPPROTO_RAW = 255, SOL_IP = 0;
const IPT_SO_GET_INFO = 64, IPT_SO_GET_ENTRIES = 65;
const TABLE_NAME_LEN = 32;
/** NF_INET_NUMHOOKS: PREROUTING, INPUT, FORWARD, OUTPUT, POSTROUTING */
const IPT_HOOKS = 5;

/** struct ipt_getinfo: where the built-in chains start and end, and the blob's size. */
export interface IptInfo {
  validHooks: number;
  hookEntry: number[];
  underflow: number[];
  numEntries: number;
  size: number;
}

/** A socket for the IPT_SO_* calls (CAP_NET_ADMIN), in this thread's network namespace. */
export function iptOpen(): number {
  const fd = fns.socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
  if (fd < 0) throw new SysError('socket', koffi().errno(), 'AF_INET SOCK_RAW');
  return fd;
}

export function iptClose(fd: number): void {
  fns.close(fd);
}

function tableName(table: string, into: Buffer): void {
  if (Buffer.byteLength(table) >= TABLE_NAME_LEN) throw new RangeError(`table name too long: ${table}`);
  into.write(table, 0, 'latin1');
}

function get(fd: number, name: number, buf: Buffer, what: string): void {
  const len = Buffer.alloc(4);
  len.writeUInt32LE(buf.length, 0);
  if (fns.getsockopt(fd, SOL_IP, name, buf, len) !== 0) throw new SysError('getsockopt', koffi().errno(), what);
}

/** IPT_SO_GET_INFO. ENOENT: the kernel has no such table (its module is not loaded). */
export function iptInfo(fd: number, table: string): IptInfo {
  const b = Buffer.alloc(84);
  tableName(table, b);
  get(fd, IPT_SO_GET_INFO, b, `IPT_SO_GET_INFO ${table}`);
  const u32 = (at: number) => b.readUInt32LE(at);
  const hooks = (at: number) => Array.from({ length: IPT_HOOKS }, (_, i) => u32(at + 4 * i));
  return { validHooks: u32(32), hookEntry: hooks(36), underflow: hooks(56), numEntries: u32(76), size: u32(80) };
}

/**
 * IPT_SO_GET_ENTRIES: the table's blob (`size` bytes, from iptInfo). EAGAIN:
 * the table changed size since iptInfo (read both again).
 */
export function iptEntries(fd: number, table: string, size: number): Buffer {
  // struct ipt_get_entries: name[32], unsigned int size, then the entries at offset 40 (8-aligned)
  const b = Buffer.alloc(40 + size);
  tableName(table, b);
  b.writeUInt32LE(size, 32);
  get(fd, IPT_SO_GET_ENTRIES, b, `IPT_SO_GET_ENTRIES ${table}`);
  return b.subarray(40);
}

type ReadFn = (fd: number, table: string, err: Buffer, errLen: bigint) => unknown;
type PrepareFn = (fd: number, read: unknown, text: Buffer, len: bigint, err: Buffer, errLen: bigint) => unknown;
type CommitFn = (p: unknown, err: Buffer, errLen: bigint) => number;
let bound: { read: ReadFn; readFree: (r: unknown) => void; prepare: PrepareFn; commit: CommitFn; free: (p: unknown) => void } | undefined;

function ipt() {
  if (bound) return bound;
  const l = nativeLibrary().handle;
  return (bound = {
    read: l.func('void *bk_ipt_read(int fd, const char *table, _Out_ char *err, uint64_t err_len)') as unknown as ReadFn,
    readFree: l.func('void bk_ipt_read_free(void *r)') as unknown as (r: unknown) => void,
    prepare: l.func('void *bk_ipt_prepare(int fd, void *read, const char *text, uint64_t len, _Out_ char *err, uint64_t err_len)') as unknown as PrepareFn,
    commit: l.func('int bk_ipt_commit(void *p, _Out_ char *err, uint64_t err_len)') as unknown as CommitFn,
    free: l.func('void bk_ipt_free(void *p)') as unknown as (p: unknown) => void,
  });
}

/** Why a table was not prepared (iptPrepare: something native/c/iptblob.c does not model, a line that cannot apply, a failed read) or not swapped in (commit: the kernel refused it). */
export class IptRefused extends Error {}

const cstring = (b: Buffer) => b.toString('latin1', 0, Math.max(0, b.indexOf(0)));

/**
 * A table read, edited and laid out by iptPrepare: swap it in with
 * commit(), or let it go with free(). commit() throws IptRefused when the
 * kernel refused the swap (the table is as it was), any other error once
 * the new table is in place (its kept rules' counters are not).
 */
export interface IptPrepared {
  commit(): void;
  free(): void;
}

/** A table as the kernel gave it (iptRead), for iptPrepare; free() if it is not prepared. */
export interface IptRead {
  readonly table: string;
  /** the C handle, once: iptPrepare takes it (bk_ipt_prepare frees it) */
  take(): unknown;
  free(): void;
}

/**
 * Read `table` on `fd` (iptOpen) now, for an iptPrepare later: at 10k
 * services the kernel takes ~300 ms to hand nat over (a synchronous call:
 * it overlaps only other processes). Throws IptRefused.
 */
export function iptRead(fd: number, table: string): IptRead {
  const f = ipt();
  const err = Buffer.alloc(256);
  let handle = f.read(fd, table, err, BigInt(err.length));
  if (!handle) throw new IptRefused(cstring(err));
  return {
    table,
    take() {
      const h = handle;
      handle = undefined;
      return h;
    },
    free() {
      if (handle) f.readFree(handle), (handle = undefined);
    },
  };
}

/**
 * Apply the lines of a table's section of an iptables-restore --noflush
 * text (without `*table` and COMMIT) to the table as `read` holds it
 * (iptRead; a table name reads it now), as iptables-legacy-restore would
 * (native/c/iptblob.c): nothing changes in the kernel until commit(),
 * which swaps the whole table in (IPT_SO_SET_REPLACE) and carries the kept
 * rules' counters over. Throws IptRefused with the reason. A read is used
 * up either way.
 */
export function iptPrepare(fd: number, read: IptRead | string, lines: Buffer): IptPrepared {
  const f = ipt();
  const r = typeof read === 'string' ? iptRead(fd, read) : read;
  const handle = r.take();
  if (!handle) throw new Error(`the read of ${r.table} was used or freed already`);
  const err = Buffer.alloc(256);
  const p = f.prepare(fd, handle, lines, BigInt(lines.length), err, BigInt(err.length));
  if (!p) throw new IptRefused(cstring(err));
  let live = true;
  return {
    commit() {
      if (!live) throw new Error('committed or freed already');
      const rc = f.commit(p, err, BigInt(err.length));
      if (rc === -1) throw new IptRefused(cstring(err));
      if (rc !== 0) throw new Error(cstring(err));
    },
    free() {
      if (live) (live = false), f.free(p);
    },
  };
}
