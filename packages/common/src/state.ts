/**
 * Runtime state under /run/boxkit (cleared at boot, like /run/runc) and data
 * under /var/lib/boxkit; BOXKIT_STATE_DIR and BOXKIT_DATA_DIR override both.
 * Writes are atomic (temp file, rename) and made under an flock, so a crash
 * or a concurrent command never leaves a torn file.
 */
import { closeSync, constants, fchmodSync, fstatSync, linkSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { flock, LOCK, makedev } from '@boxkit/native';
import { BoxkitError, describeError } from './errors.js';
import { ownerGone } from './proc.js';
import { sleepSync } from './sleep.js';

export function stateDir(...parts: string[]): string {
  return join(process.env.BOXKIT_STATE_DIR || '/run/boxkit', ...parts);
}

export function dataDir(...parts: string[]): string {
  return join(process.env.BOXKIT_DATA_DIR || '/var/lib/boxkit', ...parts);
}

/**
 * Write a file so readers see the old or the new content, never a mix
 * (rename is atomic). No fsync: state lives in /run, which a reboot clears
 * anyway, and an fsync per write cost milliseconds on every container start.
 * Its directory is made when missing (only then: one mkdir per state dir's
 * life, not one per write). A write refused (a full or read-only /run) names
 * `path` (Node's 'no space left on device, write' names none) and leaves no
 * temp file.
 */
export function atomicWrite(path: string, content: string | Buffer, mode = 0o644): void {
  const tmp = `${path}.${process.pid}.tmp`;
  writeAside(tmp, path, content, mode, () => renameSync(tmp, path));
}

/**
 * Write `content` to `aside`, a file beside `path` (in its directory, made
 * when missing), then run `then` (atomicWrite's rename), if given. A write
 * (or `then`) refused (a full or read-only /run) names `path` (unwritten)
 * and leaves no file aside; one a kill leaves goes at sweepAsides, when
 * named `NAME.PID.tmp`.
 */
export function writeAside(aside: string, path: string, content: string | Buffer, mode = 0o644, then?: () => void): void {
  try {
    const fd = openAside(aside, dirname(path), mode);
    try {
      writeFileSync(fd, content);
    } finally {
      closeSync(fd);
    }
    then?.();
  } catch (e) {
    try {
      removeFile(aside); // a full /run keeps no half-written file aside
    } catch {
      // (a directory turned read-only: left for sweepAsides)
    }
    throw unwritten(path, e);
  }
}

/** open(2) of a file aside for writing, its directory `dir` made when missing (ENOENT) and the open tried again. */
function openAside(tmp: string, dir: string, mode: number): number {
  try {
    return openSync(tmp, 'w', mode);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    return openSync(tmp, 'w', mode);
  }
}

/**
 * Remove the files atomicWrite left aside in `dir` (`NAME.PID.tmp`) whose
 * writer was killed between its write and its rename: their pid gone since
 * the file was written. Those of `only` (file names), or all. Returns them.
 */
export function sweepAsides(dir: string, only?: readonly string[]): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const gone: string[] = [];
  for (const n of names) {
    const m = /^(.+)\.(\d+)\.tmp$/.exec(n);
    if (!m || (only && !only.includes(m[1]!))) continue;
    const path = join(dir, n);
    if (!writerGone(path, Number(m[2]))) continue;
    try {
      unlinkSync(path);
      gone.push(path);
    } catch {
      // renamed or removed meanwhile
    }
  }
  return gone;
}

/** Did the writer `pid` of the file aside at `path` end since it wrote it? False once the file is gone (renamed). */
export function writerGone(path: string, pid: number): boolean {
  try {
    return ownerGone(pid, statSync(path).mtimeMs);
  } catch {
    return false;
  }
}

/**
 * A failed write, named by its file (Node's own message, 'no space left on device, write', names none), with the
 * hint its cause calls for: a full or read-only file system, or (EACCES, EPERM: a state dir only root may write, its
 * mkdir or the open) the one every boxkit tool gives a refused errno error (describeError's: 'this needs root ...').
 */
export function unwritten(path: string, e: unknown): unknown {
  const code = (e as NodeJS.ErrnoException).code;
  if (!code || !(e instanceof Error)) return e;
  const why = e.message.replace(/^[A-Z0-9]+: /, '').replace(/, \w+( '.*')?$/, '');
  const hint = code === 'ENOSPC' || code === 'EROFS' || code === 'EDQUOT' ? `the file system holding ${dirname(path)} is full or read-only` : describeError(e).hint;
  return new BoxkitError(code, `cannot write ${path}: ${why}`, { cause: e, ...(hint ? { hint } : {}) });
}

/** A JSON file's content, or undefined when it does not exist; one that is not JSON is named in the error. */
export function readJson<T>(path: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    // JSON.parse's message names no file: say which one, so it can be repaired or removed
    throw new BoxkitError('EBADSTATE', `${path}: not valid JSON (${(e as Error).message.replace(/\s*\n\s*/g, ' ')})`, { hint: 'it was edited or cut short: repair it, or remove it to forget what it held' });
  }
}

export function writeJson(path: string, value: unknown): void {
  atomicWrite(path, `${JSON.stringify(value, null, 2)}\n`);
}

/** Remove a file; gone already is fine. (unlink, not rmSync: that lstats first and loads Node's rimraf.) */
export function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
}

/**
 * How this process's withLock waits for a lock another process holds, while set (lockWaits): by
 * turns of the event loop, so signal handlers run (the flock(2) wait blocked the thread: a Ctrl-C
 * was seen only once the holder let go, however long that took), and:
 */
export interface LockWaits {
  /** called once a wait passes 1 s: the lock, and its holder's pid when /proc/locks names it */
  onWait(path: string, holder: number | undefined): void;
  /** called when a wait onWait was called for ends with the lock held */
  onWaitEnd?(): void;
  /** aborted: a wait gives up, and so does any later one that finds its lock held, throwing `stopped`'s error */
  signal: AbortSignal;
  /** the error of a wait for `path` (held by `holder`) that `signal` stopped: each names its own lock */
  stopped(path: string, holder: number | undefined): Error;
}

let waits: LockWaits | undefined;

/**
 * Set (or clear: undefined) how withLock waits for a held lock in this process (LockWaits). `run`
 * sets it for a foreground container's teardown, whose user is told what it waits for and may
 * stop waiting; elsewhere the wait blocks in flock(2), as before.
 */
export function lockWaits(w: LockWaits | undefined): void {
  waits = w;
}

/**
 * Run `fn` holding an exclusive flock on `lockPath` (created if needed).
 * The kernel drops the lock if the process dies, so no stale lock survives.
 */
export async function withLock<T>(lockPath: string, fn: () => T | Promise<T>): Promise<T> {
  const fd = waits ? await lockPolled(lockPath, waits) : lock(lockPath);
  try {
    return await fn();
  } finally {
    closeSync(fd); // closing releases the lock
  }
}

/** withLock for synchronous work (the same flock: never nest the two on one path). */
export function withLockSync<T>(lockPath: string, fn: () => T): T {
  const fd = lock(lockPath);
  try {
    return fn();
  } finally {
    closeSync(fd);
  }
}

/**
 * withLockSync with the flock taken on a directory that exists, where no
 * lock file may be made (a cgroup's: the lock of its device rule list).
 */
export function withDirLockSync<T>(dir: string, fn: () => T): T {
  const fd = held(openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY), dir);
  try {
    return fn();
  } finally {
    closeSync(fd);
  }
}

/**
 * withLockSync without waiting for the lock, on a lock file only this user
 * can open (made 0600, no symlink followed, made 0600 again if someone's
 * flock(1) made it wider): anyone who could open it could hold it, and make
 * every caller wait. Undefined when another holder has it (EWOULDBLOCK):
 * the caller retries against its own deadline. Other errors are thrown.
 */
export function tryLockSync<T>(lockPath: string, fn: () => T): { value: T } | undefined {
  return tryLockUntilSync(lockPath, 0, fn);
}

/**
 * tryLockSync tried again every 20 ms until `deadline` (Date.now() time) on
 * the one open file: undefined if another holder kept it all along.
 * `onWait` is called once, when the wait passes `waitNoticeMs` (so a caller
 * can say who it waits for, instead of stalling silently).
 */
export function tryLockUntilSync<T>(lockPath: string, deadline: number, fn: () => T, onWait?: () => void, waitNoticeMs = 1000): { value: T } | undefined {
  const fd = openSync(lockPath, constants.O_RDWR | constants.O_CREAT | constants.O_NOFOLLOW, 0o600);
  try {
    if ((fstatSync(fd).mode & 0o077) !== 0) fchmodSync(fd, 0o600);
    if (!flockUntilSync(fd, deadline, lockPath, onWait, waitNoticeMs)) return undefined;
    return { value: fn() };
  } finally {
    closeSync(fd); // closing releases the lock
  }
}

/**
 * flock(fd, LOCK_EX) on an open file, tried again every 20 ms until
 * `deadline` (Date.now() time): true once held, false if another holder
 * kept it all along. Errors other than EWOULDBLOCK are thrown. `onWait` is
 * called once, when the wait passes `waitNoticeMs`.
 */
export function flockUntilSync(fd: number, deadline: number, path?: string, onWait?: () => void, waitNoticeMs = 1000): boolean {
  const notice = Date.now() + waitNoticeMs;
  for (;;) {
    try {
      flock(fd, LOCK.EX | LOCK.NB, path);
      return true;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'EWOULDBLOCK' && code !== 'EAGAIN') throw e;
    }
    const now = Date.now();
    if (now >= deadline) return false;
    if (onWait && now >= notice) {
      onWait();
      onWait = undefined;
    }
    sleepSync(Math.min(20, deadline - now));
  }
}

/**
 * lock(), waiting as `w` says (see LockWaits): tried again between turns of the event loop after
 * 1, 2, 4 ... up to 20 ms, so a short wait (a parallel run's few ms under the lock) ends within
 * about a millisecond of its holder's, as the blocking flock(2) would (tried every 20 ms it cost
 * up to 20 ms more: holder 30 ms, wait 41 ms).
 */
async function lockPolled(lockPath: string, w: LockWaits): Promise<number> {
  const fd = openLock(lockPath);
  try {
    const notice = Date.now() + 1000;
    let told = false;
    await flockPolled(fd, lockPath, () => {
      if (w.signal.aborted) throw w.stopped(lockPath, lockHolder(fd));
      if (!told && Date.now() >= notice) {
        told = true;
        w.onWait(lockPath, lockHolder(fd));
      }
    });
    if (told) w.onWaitEnd?.();
    return fd;
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/**
 * flock(fd, LOCK_EX) tried again between turns of the event loop (a signal is handled meanwhile) after 1,
 * 2, 4 ... up to 20 ms, until it is held; `each` runs before every pause, and throws to give up.
 */
export async function flockPolled(fd: number, path: string, each: () => void): Promise<void> {
  for (let pause = 1; !flockUntilSync(fd, 0, path); pause = Math.min(2 * pause, 20)) {
    each();
    await new Promise((r) => setTimeout(r, pause));
  }
}

/**
 * The pid holding an flock on the file open as `fd`, from /proc/locks (`1: FLOCK ADVISORY WRITE
 * PID MAJ:MIN:INODE 0 EOF`, the device in hex), or undefined (not listed, or another pid namespace's: 0).
 */
export function lockHolder(fd: number): number | undefined {
  try {
    const st = fstatSync(fd, { bigint: true });
    for (const l of readFileSync('/proc/locks', 'utf8').split('\n')) {
      const f = l.trim().split(/\s+/);
      const [major, minor, ino] = (f[5] ?? '').split(':');
      if (f[1] !== 'FLOCK' || !(Number(f[4]) > 0) || ino === undefined || BigInt(ino) !== st.ino) continue;
      if (makedev(parseInt(major!, 16), parseInt(minor!, 16)) === st.dev) return Number(f[4]);
    }
  } catch {
    // no /proc/locks: the lock is named without its holder
  }
  return undefined;
}

/** An fd of `lockPath` holding its exclusive flock. */
function lock(lockPath: string): number {
  return held(openLock(lockPath), lockPath);
}

/** An fd of `lockPath` (made 0600 if new, its directory too) for its flock. */
function openLock(lockPath: string): number {
  mkdirSync(dirname(lockPath), { recursive: true, mode: 0o755 });
  return openSync(lockPath, 'a', 0o600);
}

/** `fd` once it holds its exclusive flock (closed if that fails). */
function held(fd: number, path: string): number {
  try {
    // blocking flock on the main thread: critical sections are a few ms
    flock(fd, LOCK.EX, path);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/**
 * Create `path` with `content` only if nothing is there, whole or not at
 * all: the content is written aside (`PATH.PID.tmp`, which sweepAsides
 * removes should a kill leave it), then link(2)ed, which fails if anything
 * (a file, a dangling symlink) is at `path`. True when created; false when
 * something was there (only link's EEXIST). Other errors are thrown, naming
 * `path` (unwritten: Node's 'no space left on device, write', or the aside's
 * name, said nothing of it); the file aside never outlives the call.
 */
export function createExclusive(path: string, content: string | Buffer, mode = 0o644): boolean {
  const aside = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(aside, content, { mode });
    linkSync(aside, path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST' && (e as NodeJS.ErrnoException).syscall === 'link') return false;
    throw unwritten(path, e);
  } finally {
    try {
      unlinkSync(aside);
    } catch {
      // never made, or the dir went read-only: left for sweepAsides
    }
  }
}
