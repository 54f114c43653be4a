/**
 * Spawning a child through the C trampoline: clone() with namespace flags,
 * hold it on the sync pipe while the parent configures it from outside
 * (uid/gid maps, cgroups, network), release it, and learn whether its
 * program reached execve.
 */
import { closeSync, read, readSync, writeSync } from 'node:fs';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { koffi, trampolinePath, preresolveKoffi } from './lib.js';
import { SysError, errnoName, strerror } from './errors.js';
import { encodeProgram, opName, type Step } from './program.js';
import { waitChild, type ExitStatus } from './children.js';

type SpawnFn = (flags: bigint, prog: Buffer, len: bigint, pdeathsig: number, fds: Int32Array, stage: string) => number;
let spawnFn: SpawnFn | undefined;
let stagePath: string | undefined;

let libPath: string | undefined;

/**
 * Find the trampoline library and koffi now rather than at the first spawn:
 * a bin calls this while its startup snapshot is built, which saves the
 * module resolution (several ms) on every start. Paths that have gone
 * missing since are resolved again.
 */
export function preresolveTrampoline(): void {
  libPath = trampolinePath();
  preresolveKoffi();
}

type NativeLibrary = { handle: ReturnType<ReturnType<typeof koffi>['load']>; path: string };
let library: NativeLibrary | undefined;

/** libboxkit.so (native/c), loaded on first use: bk_spawn, and bk_ipt_* (iptables.ts). */
export function nativeLibrary(): NativeLibrary {
  if (library) return library;
  const path = !process.env.BOXKIT_NATIVE_LIB && libPath && existsSync(libPath) ? libPath : trampolinePath();
  try {
    return (library = { handle: koffi().load(path), path });
  } catch (e) {
    throw new SysError('dlopen', 2, path, `cannot load the trampoline library (${(e as Error).message}); run the build (npm run build) first`);
  }
}

function load(): SpawnFn {
  if (spawnFn) return spawnFn;
  const { handle: l, path } = nativeLibrary();
  spawnFn = l.func('int bk_spawn(uint64_t flags, const uint8_t *prog, uint64_t len, int pdeathsig, _Out_ int *fds, const char *stage)') as unknown as SpawnFn;
  // the program the child execs to run its steps is built beside the library
  stagePath = join(dirname(path), 'bk-stage');
  return spawnFn;
}

/** A failure the child reported: the errno, the index and name of the step. */
export class StepError extends SysError {
  readonly step: number;
  readonly stepName: string;
  readonly object?: string;
  constructor(errno: number, step: number, op: number, object?: string) {
    super(opName(op), errno, object);
    this.step = step;
    this.stepName = opName(op);
    if (object !== undefined) this.object = object;
  }

  /** What to do about it, where the errno alone does not say. */
  get hint(): string | undefined {
    // the namespace's root is the initramfs itself (rootfs), which pivot_root cannot replace (runc refuses too)
    if (this.stepName === 'pivot-root' && this.code === 'EINVAL') return 'the mount namespace\'s root is the initramfs (rootfs), which pivot_root cannot replace: run from a system that switched root (switch_root)';
    return undefined;
  }
}

export interface SpawnOptions {
  /** CLONE_NEW* flags. */
  flags: number;
  /** The child's program; put a WAIT_SYNC step where it should wait for release(). */
  steps: Step[];
  /** Signal the child gets when this process dies (0: none, e.g. --detach). */
  pdeathsig?: number;
}

export class Child {
  readonly pid: number;
  private syncFd: number | undefined;
  private errFd: number | undefined;
  private readonly steps: Step[];
  private exited?: Promise<ExitStatus>;

  constructor(pid: number, syncFd: number, errFd: number, steps: Step[]) {
    this.pid = pid;
    this.syncFd = syncFd;
    this.errFd = errFd;
    this.steps = steps;
  }

  /** Let the child go past its WAIT_SYNC step. */
  release(): void {
    if (this.syncFd === undefined) return;
    writeSync(this.syncFd, Buffer.from([1]));
    closeSync(this.syncFd);
    this.syncFd = undefined;
  }

  /** Make the child give up at WAIT_SYNC: it exits 125 without running the rest. */
  abort(): void {
    if (this.syncFd !== undefined) closeSync(this.syncFd);
    this.syncFd = undefined;
  }

  /**
   * Block until the child has exec'd (resolves) or reported a failed step
   * (throws StepError). Synchronous on purpose: the wait is a few
   * milliseconds and the pipe is ours alone.
   */
  confirmExec(): void {
    if (this.errFd === undefined) return;
    const buf = Buffer.alloc(12);
    let got = 0;
    try {
      for (;;) {
        let n: number;
        try {
          n = readSync(this.errFd, buf, got, 12 - got, null);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN' || (e as NodeJS.ErrnoException).code === 'EINTR') continue;
          throw e;
        }
        if (n === 0) break;
        got += n;
        if (got === 12) break;
      }
    } finally {
      closeSync(this.errFd);
      this.errFd = undefined;
    }
    if (got < 12) return;
    throw this.stepError(buf);
  }

  /**
   * confirmExec() for a child that may wait long before exec (a setup
   * fifo): the read runs on libuv's pool instead of blocking the loop, so
   * the caller can forward signals meanwhile. It holds one pool thread
   * until the child execs or fails.
   */
  async confirmExecAsync(): Promise<void> {
    if (this.errFd === undefined) return;
    const fd = this.errFd;
    this.errFd = undefined;
    const buf = Buffer.alloc(12);
    let got = 0;
    try {
      for (;;) {
        const n = await new Promise<number>((resolve, reject) =>
          read(fd, buf, got, 12 - got, null, (e, bytes) => (e ? reject(e) : resolve(bytes))),
        );
        if (n === 0) break;
        got += n;
        if (got === 12) break;
      }
    } finally {
      closeSync(fd);
    }
    if (got === 12) throw this.stepError(buf);
  }

  private stepError(buf: Buffer): StepError {
    const errno = buf.readInt32LE(0), step = buf.readInt32LE(4), op = buf.readInt32LE(8);
    const s = this.steps[step];
    const object = s?.op === 'EXEC' ? s.strs?.[1] : s?.strs?.[s.op === 'MOUNT' ? 1 : 0];
    return new StepError(errno, step, op, object);
  }

  /** Resolves with the exit status once the child is reaped. */
  wait(): Promise<ExitStatus> {
    return (this.exited ??= waitChild(this.pid));
  }

  /** Close the pipes without waiting (e.g. detaching). */
  close(): void {
    if (this.syncFd !== undefined) closeSync(this.syncFd);
    if (this.errFd !== undefined) closeSync(this.errFd);
    this.syncFd = this.errFd = undefined;
  }
}

/** clone() a child into new namespaces running `steps`. */
export function spawn(opts: SpawnOptions): Child {
  const fn = load();
  const prog = encodeProgram(opts.steps);
  const fds = new Int32Array(3);
  const rc = fn(BigInt(opts.flags), prog, BigInt(prog.length), opts.pdeathsig ?? 9, fds, stagePath!);
  if (rc < 0 && fds[2]) {
    const hint = -rc === 2 ? ' (missing: run the build, npm run build)' : '';
    throw new SysError('execve', -rc, stagePath, `cannot run the stage program${hint}: ${strerror(-rc)}`);
  }
  if (rc < 0) throw new SysError('clone', -rc, undefined);
  return new Child(rc, fds[0]!, fds[1]!, opts.steps);
}

export { errnoName };
