/**
 * A detached container's keeper, as docker's containerd-shim: the process
 * that starts a `run -d` container stays behind as its parent, so that
 * when the container ends on its own its exit status (the code, or 128+N
 * for signal N) and end time are recorded, and a --rm one is removed at
 * once. Only a parent can learn a process's exit status: once the `run`
 * that cloned it has exited, the kernel gives the status to init.
 *
 * `run -d` (the caller's process) hands its arguments to a second start of
 * this bin (the keeper word below), detached in a session of its own with
 * stdio on /dev/null; the keeper starts the container as a foreground run
 * would, sends back what `run -d` prints (the id, or the failure) and its
 * exit code on fd 3, and then waits. `run -d` prints that and exits.
 * Without a keeper (killed, or a record from before) the end is still
 * noticed later (settle), but without its status.
 *
 * Once it has reported, the keeper only waits, and a whole Node for that
 * held ~14 MB of private memory per detached container: so it execve()s
 * into native's bk-keeper (C, as docker's shim and podman's conmon), which
 * waits for the container and then execs this bin again (the keeper word,
 * `finish NAME ID STATUS FD`) to record the end; when the record is gone by
 * then (rm -f ended it: it looks under the store's lock), it just exits.
 * One such finish runs at a time, holding the finish lock bk-keeper took
 * (FD), and records every end other keepers left meanwhile: many
 * containers ending together make one Node start, not one each. A keeper
 * waits for that lock 30 s at most ($BOXKIT_KEEPER_FINISH_WAIT), then
 * records its end unlocked: a finish stuck behind something outside boxkit
 * (the xtables lock) holds the others back no longer than that.
 * Same pid throughout: the container stays its child, and the record's
 * creatorPid/creatorStart still name its keeper (creatorAlive).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, readdirSync, readFileSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { BoxkitError, out, printJson, stateDir, withLock } from '@boxkit/common';
import { describeError, EXIT, reportFailure } from '@boxkit/common/errors';
import { warn } from '@boxkit/common/output';
import { divertStderr, writeAll } from '@boxkit/common/stdio';
import { closeOnExec, execveNow, nativeProgram, shellStatus } from '@boxkit/native';
import type { RunArgs } from '../commands/run.js';
import { procStat } from '@boxkit/common/proc';
import { creatorAlive, endsLeft, exitPath, finishLockPath, isAlive, load, recordPath } from '../state/store.js';
import type { ContainerRecord } from '../state/record.js';
// (static: the start's signal handlers must exist before the keeper's first await, see keep)
import { stopBeforeStart } from './lifecycle.js';
import { INTERRUPTS, signalStatus } from '@boxkit/common/signals';

/** bk-keeper's command-line layout (native/c/keeper.c): a binary of another build refuses it rather than misread it. */
const KEEPER_PROTOCOL = 'keeper/2';

/** The first word that makes a start of this bin a keeper (never a user's: run's subcommands are words). */
export const KEEPER_WORD = '__boxkit-keeper';

/** What the keeper sends back on fd 3 once the container runs, or could not be started. */
interface Report {
  code: number;
  stdout: string;
  stderr: string;
}

/** How to start this bin again: from the fast path's startup blob when this start used one. */
function selfCommand(): string[] {
  const flags = [...process.execArgv];
  const at = flags.findIndex((f) => f === '--snapshot-blob' || f.startsWith('--snapshot-blob='));
  if (at >= 0) {
    const joined = flags[at]!.includes('=');
    // absolute: the keeper starts in / (it must not hold the caller's directory busy)
    const blob = resolve(joined ? flags[at]!.slice(flags[at]!.indexOf('=') + 1) : flags[at + 1]!);
    // the keeper word is routed by cli.ts; a start from wiring.blob (run start -d ...) goes there too
    const cli = join(dirname(blob), 'cli.blob');
    const use = basename(blob) !== 'cli.blob' && existsSync(cli) ? cli : blob;
    if (joined) flags[at] = `--snapshot-blob=${use}`;
    else flags[at + 1] = use;
    return [...flags, '--', KEEPER_WORD];
  }
  return [...flags, resolve(process.argv[1]!), KEEPER_WORD];
}

/**
 * The keeper starts from this bin's blob as the bin's stub starts it: with the glibc malloc tunables
 * the stub gave this start, which its start from the blob took out of the environment
 * (scripts/build-snapshot.mjs; the keeper's start takes them out again, before the container's).
 */
function keeperEnv(): NodeJS.ProcessEnv {
  const tuned = (globalThis as Record<symbol, unknown>)[Symbol.for('boxkit.mallocTunables')];
  return typeof tuned === 'string' ? { ...process.env, GLIBC_TUNABLES: tuned } : process.env;
}

/** `run -d`: start the container through a keeper; print what it reports; its exit code is ours. */
export async function startKept(a: RunArgs): Promise<number> {
  // A Ctrl-C (or kill) of `run -d` before the keeper has reported stops the start there: the
  // keeper is in a session of its own, which the terminal's SIGINT never reaches (run -d exited
  // 130 and the container started all the same). What it reports then is what is true: the
  // failure (130, undone), or the id of a container that had started. Not once it has reported:
  // it is becoming bk-keeper, which the signal would kill. Caught before the keeper is spawned:
  // a signal between the spawn and the handlers killed run -d (the default action) and the
  // keeper started the container, unwatched.
  const chunks: Buffer[] = [];
  let forwarded: NodeJS.Signals | undefined;
  let keeperPid: number | undefined;
  const forward = (sig: NodeJS.Signals) => {
    if (chunks.length) return;
    forwarded ??= sig;
    try {
      if (keeperPid) process.kill(keeperPid, sig);
    } catch {
      // gone: reported below
    }
  };
  for (const sig of INTERRUPTS) process.on(sig, forward);
  // (a handler runs at a later turn of the event loop: by then the pid is known)
  const keeper = spawn(process.execPath, selfCommand(), { detached: true, stdio: ['pipe', 'ignore', 'ignore', 'pipe'], cwd: '/', env: keeperEnv() });
  keeperPid = keeper.pid;
  keeper.stdin!.on('error', () => {}); // a keeper that died at once: reported below
  let cwd: string | null = null; // (null: removed; a relative path fails in the keeper as it would here)
  try {
    cwd = process.cwd();
  } catch {
    // run from a directory someone removed
  }
  // (runContainer's toSpec checked the -p host addresses: the keeper's does not ask again)
  keeper.stdin!.end(JSON.stringify({ ...a, cwd, hostIpsChecked: true }));
  const fd3 = keeper.stdio[3] as NodeJS.ReadableStream;
  fd3.on('data', (c: Buffer) => chunks.push(c));
  // it could not be started (ENOMEM, EAGAIN): its pipes end unread
  let failed: Error | undefined;
  const errored = new Promise<void>((r) => keeper.once('error', (e) => {
    failed = e;
    r();
  }));
  const gone = new Promise<void>((r) => keeper.once('exit', () => r()));
  // (its fd 3 ends when it closes it, or dies)
  await Promise.race([new Promise<void>((r) => fd3.once('end', r).once('error', () => r())), errored]);
  // (the handlers stay: a signal now, the container started, must not kill run -d before it prints the id)
  if (failed) throw new BoxkitError('EKEEPER', `cannot start the container's keeper: ${failed.message}`, { exitCode: 125 });
  let rep: Report | undefined;
  try {
    rep = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Report;
  } catch {
    // ended before it reported
  }
  if (!rep) {
    await gone;
    return lostKeeper(keeper.pid!, a, forwarded);
  }
  // it lives on with the container: nothing of it keeps this process
  keeper.unref();
  (keeper.stdio[3] as unknown as { unref?: () => void }).unref?.();
  let unwritten: unknown;
  try {
    if (rep.stdout) writeAll(1, rep.stdout);
  } catch (e) {
    unwritten = e;
  }
  if (rep.stderr) writeAll(2, rep.stderr);
  if (unwritten === undefined) return rep.code;
  if (rep.code !== 0) throw unwritten;
  // the container runs: its id not printed (`> /dev/full`) is no failure to start it (125)
  warn('run', `the container started, but ${describeError(unwritten).message} (see run ps)`);
  return EXIT.SYSTEM;
}

/**
 * The keeper ended (killed) before it reported. What it made is in the store under its pid:
 * a container still 'creating' is undone here, as gc would, so that 125 leaves nothing; one
 * that got as far as running has started (its keeper killed after the start), and 125 said
 * it had not: a script went on without it, and a retry found its name taken.
 */
async function lostKeeper(pid: number, a: RunArgs, forwarded?: NodeJS.Signals): Promise<number> {
  const { list } = await import('../state/store.js');
  const made = list().find((r) => r.creatorPid === pid && (a.name === undefined || r.name === a.name));
  if (made && made.status !== 'creating') {
    if (a.json) printJson(made);
    else out(made.id);
    warn('run', `warning: ${made.name}'s keeper (pid ${pid}) was killed: how the container ends will not be recorded`);
    return 0;
  }
  if (made) {
    const { teardownIfOwn } = await import('./teardown.js');
    await teardownIfOwn(made).catch(() => {});
  }
  // killed by the interrupt passed on to it (before its handlers were up): stopped as the user asked
  if (forwarded) {
    warn('run', `stopped by ${forwarded} before the command started (what was made is removed)`);
    return signalStatus(forwarded);
  }
  warn('run', `the container's keeper (pid ${pid}) was killed before the container started`);
  return 125;
}

/** The keeper: start the container, report on fd 3, wait for its end and record it. */
export async function keep(args: string[] = []): Promise<void> {
  if (args[0] === 'finish') return recordEnd(args.slice(1));
  // what ps on the host shows for it (its command line is node's and a blob's)
  process.title = 'run keeper';
  closeInherited();
  let stderr = '';
  // what the start would print on stderr (-v steps, warnings) goes back to `run -d`; fd 2 is /dev/null
  // (boxkit's own lines go through common's stdio; Node's warnings and native's last words through the stream)
  const keepText = (text: string) => {
    stderr += text;
  };
  divertStderr(keepText);
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array) => {
    keepText(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    return true;
  }) as typeof process.stderr.write;
  let rep: Report;
  let started: Awaited<ReturnType<typeof import('./create.js').startContainer>> | undefined;
  // `run -d` passes on the SIGINT, SIGTERM or SIGHUP it gets before this reports: the start stops
  // (undone). Its handlers go first, before any await: a signal before them killed the keeper
  // (125, 'killed before the container started')
  const stop = stopBeforeStart();
  try {
    const a = JSON.parse(readFileSync(0, 'utf8')) as RunArgs & { cwd?: string | null; hostIpsChecked?: boolean };
    // relative paths (--rootfs ./dir) are the caller's
    if (a.cwd) process.chdir(a.cwd);
    else if (a.cwd === null) {
      process.cwd = () => {
        throw Object.assign(new Error('ENOENT: no such file or directory, uv_cwd'), { code: 'ENOENT', syscall: 'uv_cwd' });
      };
    }
    const { toSpec } = await import('../commands/run.js');
    const spec = toSpec(a, a.hostIpsChecked === true);
    const { startContainer } = await import('./create.js');
    // (always a last look at the event loop before the release: a quick start never took one, and a
    // signal that came during it was seen only after, with no PID 1 to pass it on to)
    started = await startContainer(spec, { verbose: a.verbose, signal: stop.signal, lookLast: true });
    process.chdir('/');
    rep = { code: 0, stdout: a.json ? `${JSON.stringify(started.rec, null, 2)}\n` : `${started.rec.id}\n`, stderr };
  } catch (e) {
    const lines: string[] = [];
    rep = { code: reportFailure('run', e, (l) => lines.push(l), true), stdout: '', stderr: stderr + lines.map((l) => `${l}\n`).join('') };
  }
  // (stop's handlers stay until the exec of bk-keeper, or this process's end: a SIGINT passed on by
  // run -d after the report but before it read it found the default action here, and the container
  // ran on with no keeper; bk-keeper ignores SIGINT and SIGHUP from its start, see keeper.c)
  divertStderr();
  process.stderr.write = write;
  try {
    writeSync(3, JSON.stringify(rep));
  } catch {
    // `run -d` is gone: the container runs on all the same
  }
  if (!started) {
    closeReport();
    process.exit(rep.code);
  }
  const { rec, child } = started;
  process.title = `run keeper ${rec.name}`;
  // the exec closes fd 3: run -d returns once this process is bk-keeper
  becomeWaiter(rec);
  closeReport();
  const status = await child.wait();
  const { finish } = await import('./lifecycle.js');
  await finishKept(rec, shellStatus(status), finish).catch(() => {});
  process.exit(0);
}

/** fd 3, the report's pipe: closed, `run -d` reads its end and exits. */
function closeReport(): void {
  try {
    closeSync(3);
  } catch {
    // closed already
  }
}

/**
 * Become bk-keeper, which waits for the container and then starts this bin again to record
 * its end (recordEnd). Returns only when it cannot (not built, or the exec failed): this
 * Node waits then, as before.
 *
 * Nothing here has reaped the container's PID 1, and nothing can before the exec: the
 * trampoline's children are reaped only by waitChild (native/src/children.ts: on SIGCHLD,
 * by pid), which no one has called for it; libuv's SIGCHLD handler reaps only the pids of
 * child_process's own children. Checked all the same, synchronously up to the exec (no
 * await between): it must still be this process's child (running, or a zombie that
 * bk-keeper then reaps at once), else the status would be lost.
 */
function becomeWaiter(rec: ContainerRecord): void {
  const waiter = nativeProgram('bk-keeper');
  if (!rec.pid || !existsSync(waiter) || !ownChild(rec.pid, rec.pidStart)) return;
  const argv = [`run keeper ${rec.name}`, KEEPER_PROTOCOL, String(rec.pid), stateDir('run', 'lock'), finishLockPath(), recordPath(rec.name), exitPath(rec.name), rec.id, process.execPath, ...selfCommand(), 'finish', rec.name, rec.id];
  try {
    execveNow(waiter, argv, process.env);
  } catch {
    // (E2BIG, ENOMEM, EACCES): waited for here
  }
}

/** Is `pid` (started at `start`) this process's child, not reaped yet? */
function ownChild(pid: number, start: number | undefined): boolean {
  const st = procStat(pid);
  return st !== undefined && st.ppid === process.pid && (start === undefined || st.start === start);
}

/**
 * bk-keeper's last step: the container `name` (`id`) ended with `status` (a shell's, or '-'
 * for none). Record it, or remove a --rm container; only once its PID 1 has indeed ended,
 * whatever the argument says (anyone can start this bin with these words). bk-keeper also
 * left the status in the exit file, which finish() takes when there is none here. Then the
 * ends other keepers left while this one held the finish lock (`lockFd`, taken here when a
 * bk-keeper of an older build passed none).
 */
async function recordEnd([name, id, status, lockFd]: string[]): Promise<void> {
  process.title = `run keeper ${name}`;
  const code = status !== undefined && /^\d+$/.test(status) ? Number(status) : undefined;
  // the others' ends only under the finish lock: without it (bk-keeper waited too long for it), the
  // holder may be recording them right now
  const work = async (others = true) => {
    const { finish } = await import('./lifecycle.js');
    const rec = name ? load(name) : undefined;
    if (rec && rec.id === id && rec.status === 'running' && !isAlive(rec)) await finishKept(rec, code, finish).catch(() => {});
    if (others) await finishLeft(finish);
  };
  if (lockFd === undefined) {
    // unlocked only when the lock cannot be had (work's own failures are caught inside it)
    let held = false;
    await withLock(finishLockPath(), () => {
      held = true;
      return work();
    }).catch(async () => {
      if (!held) await work(false);
    });
  }
  else {
    // (what this finish spawns, iptables and the like, must not hold the lock on)
    try {
      if (/^\d+$/.test(lockFd)) closeOnExec(Number(lockFd));
    } catch {
      // it stays inheritable: what this finish spawns holds the lock a little longer
    }
    await work(/^\d+$/.test(lockFd));
  }
  process.exit(0);
}

/**
 * Record the ends that bk-keepers left in exit files (endsLeft) while this process held the
 * finish lock, until none is left: their keepers, waiting for the lock, then find their
 * exit files gone and end without a Node start of their own. Each is tried once.
 */
async function finishLeft(finish: (rec: ContainerRecord, code: number | undefined) => Promise<void>): Promise<void> {
  const tried = new Set<string>();
  for (;;) {
    const left = endsLeft().filter((r) => !tried.has(r.id));
    if (!left.length) return;
    for (const r of left) {
      tried.add(r.id);
      await finishKept(r, undefined, finish).catch(() => {});
    }
  }
}

/**
 * Close the files the caller left open to this process without close-on-exec (a shell's
 * `30>&1`, make's jobserver pipe, a CI runner's pipes): libuv's spawn passes every such fd
 * on, and the keeper lives as long as the container, so a caller reading such a pipe to
 * its end (`x=$(run -d ...)` with the pipe as fd 30 too) waited for the container to end.
 * Node opens all of its own fds close-on-exec; 0-3 are the keeper's stdio and report pipe.
 */
function closeInherited(): void {
  const O_CLOEXEC = 0o2000000;
  let fds: string[];
  try {
    fds = readdirSync('/proc/self/fdinfo');
  } catch {
    return; // no /proc: nothing to tell them apart by
  }
  for (const f of fds) {
    const fd = Number(f);
    if (!(fd > 3)) continue;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
      if (flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) === 0) closeSync(fd);
    } catch {
      // the directory's own fd, closed by now
    }
  }
}

/** Record the end, or remove a --rm container (if its name is not a new container's by now: teardownIfOwn). */
async function finishKept(rec: ContainerRecord, code: number | undefined, finish: (rec: ContainerRecord, code: number | undefined) => Promise<void>): Promise<void> {
  if (!rec.autoRemove) return finish(rec, code);
  const { teardownIfOwn } = await import('./teardown.js');
  await teardownIfOwn(rec);
}

/**
 * `run stop` of a kept container: its keeper records how it ended (the real status: 143 for a
 * SIGTERM it died of, 0 if it caught it and exited, 137 when killed). Wait for that record;
 * false when there is no keeper to write it (stop records the end itself then).
 */
export async function keeperRecords(rec: ContainerRecord, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  for (;;) {
    const cur = load(rec.name);
    if (!cur || cur.id !== rec.id || cur.status !== 'running') return true;
    if (!creatorAlive(cur) || Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 10));
  }
}
