/** Shared bits of the run integration tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import { expect } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { binPath, bk, pin, running, startTime, testName, waitUntil, type Pinned } from '../harness/index.js';

export const BASE = ['--cgroup-parent', 'self'];

/** `run ARGS` (built bin); throws with stderr when the exit code is not `code`. */
export async function run(args: string[], code: number | null = 0) {
  const r = await bk('run', args);
  if (code !== null && r.exitCode !== code) {
    throw new Error(`run ${args.join(' ')}: exit ${r.exitCode} (wanted ${code})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
  return { code: r.exitCode, out: String(r.stdout), err: String(r.stderr) };
}

export const name = (what: string): string => testName(what);

/** A state and data dir of a test's own (no other test's containers, bridges or locks), and the env that points the tools there. */
export function ownDirs(prefix: string): { own: string; env: NodeJS.ProcessEnv & { BOXKIT_STATE_DIR: string; BOXKIT_DATA_DIR: string } } {
  const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, prefix));
  const env: NodeJS.ProcessEnv & { BOXKIT_STATE_DIR: string; BOXKIT_DATA_DIR: string } = { ...process.env, BOXKIT_STATE_DIR: join(own, 'state'), BOXKIT_DATA_DIR: join(own, 'data') };
  delete env.NODE_EXTRA_CA_CERTS;
  return { own, env };
}

/** A foreground `run ARGS -i -- sh -c 'read x'` in `env`'s dirs (it ends when told, on its stdin), its stderr kept; resolves once it runs. */
export async function startUntilTold(env: NodeJS.ProcessEnv, args: string[], record: string) {
  const p = spawn(process.execPath, [binPath('run'), ...args, '-i', '--', 'sh', '-c', 'read x'], { env, stdio: ['pipe', 'ignore', 'pipe'] });
  let err = '';
  p.stderr!.on('data', (d) => (err += d));
  const exit = new Promise<number | null>((r) => p.once('exit', (c, s) => r(c ?? (s ? -1 : null))));
  await waitUntil('the container to run', () => existsSync(record) && JSON.parse(readFileSync(record, 'utf8')).status === 'running', 30_000);
  return { p, exit, err: () => err };
}

/**
 * A foreground `run --rm` NAME whose teardown waits for `lock`, held by pid `holder`: it says so past 1 s; a
 * Ctrl-C then ends it 130 within 2 s, naming what is left and the `run rm -f` that removes it.
 */
export async function expectRemovalWaitStopped(r: { p: ChildProcess; exit: Promise<number | null>; err: () => string }, n: string, lock: string, holder: number): Promise<void> {
  await waitUntil('run to say what it waits for', () => r.err().includes('\n'), 30_000);
  expect(r.err()).toBe(`run: ${n} has ended; its removal waits for ${lock}, held by pid ${holder} (flock): Ctrl-C stops waiting (then run rm -f ${n} removes what is left)\n`);
  const t = Date.now();
  r.p.kill('SIGINT');
  expect(await r.exit, r.err()).toBe(130);
  expect(Date.now() - t).toBeLessThan(2000);
  expect(r.err().split('\n').slice(1)).toEqual([
    `run: ${n}: not removed: SIGINT stopped the wait for ${lock}, held by pid ${holder} (flock)`,
    `hint: run rm -f ${n} removes what is left once that lock is free`,
    '',
  ]);
}

/** flock(1) holding `lock` (its directory made) until its stdin ends; resolves once it holds it. */
export async function holdLock(lock: string) {
  mkdirSync(dirname(lock), { recursive: true });
  const holder = spawn('flock', [lock, 'sh', '-c', 'echo held; read x'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((r) => holder.stdout.on('data', (d) => String(d).includes('held') && r()));
  return holder;
}

export function overlayMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(' - overlay '));
}

/**
 * Wait until a container that ends on its own has ended: its PID 1 (the pid in its record), then
 * its keeper (the record's creator, which records the end, or removes a --rm container, after
 * it). Both come a second or more after `run -d` returned on a loaded machine: a fixed sleep is
 * not enough. Without a record (already removed) nothing of it runs.
 */
export async function containerEnded(n: string, ms = 30_000): Promise<void> {
  let rec: { pid?: number; creatorPid?: number; creatorStart?: number };
  try {
    rec = JSON.parse(readFileSync(`${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`, 'utf8'));
  } catch {
    return;
  }
  const { pid, creatorPid, creatorStart } = rec;
  if (pid) await waitUntil(`container ${n} (pid ${pid}) to end`, () => !running(pid), ms);
  // the creator's start time tells it from a later process given the same pid
  const creator = () => creatorPid !== undefined && creatorPid !== process.pid && running(creatorPid) && (creatorStart === undefined || startTime(creatorPid) === creatorStart);
  if (creatorPid) await waitUntil(`the keeper of ${n} (pid ${creatorPid}) to finish`, () => !creator(), ms);
}

/**
 * A container's PID 1 as its record names it (pid and start time, clock ticks after boot as
 * /proc/PID/stat has it), for signalPinned: a PID 1 that has ended is reaped by its keeper at
 * once, and its pid may be another test's process by the time a test signals it. A record
 * without pidStart (written before it was recorded) is pinned now.
 */
export function pid1Of(rec: { pid: number; pidStart?: number }): Pinned {
  return rec.pidStart === undefined ? pin(rec.pid) : { pid: rec.pid, start: rec.pidStart };
}

/** A container's keeper (its record's creator) likewise. */
export function keeperOf(rec: { creatorPid: number; creatorStart?: number }): Pinned {
  return rec.creatorStart === undefined ? pin(rec.creatorPid) : { pid: rec.creatorPid, start: rec.creatorStart };
}

export function dataDirOf(id: string): boolean {
  return existsSync(`${process.env.BOXKIT_DATA_DIR}/containers/${id}`);
}

/** A directory holding the built boxkit bins under their own names, for tests that run shell pipelines. */
export function toolsBinDir(): string {
  const bin = join(process.env.BOXKIT_TEST_ROOT!, 'bin');
  mkdirSync(bin, { recursive: true });
  for (const t of ['run', 'ns-clone', 'cg', 'unionfs', 'netsetup']) {
    if (!existsSync(join(bin, t))) symlinkSync(binPath(t), join(bin, t));
  }
  return bin;
}


/**
 * What a shell command line prints on a terminal of its own (script(1)):
 * for `stty rows R cols C; run ... -it ... stty size`. script's stdin stays
 * open until the command is done: at EOF on its stdin script may leave
 * before it has copied the command's output (seen: '' now and then).
 */
export async function onTerminal(cmd: string): Promise<string> {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const p = spawn('script', ['-qec', cmd, '/dev/null'], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  await new Promise((r) => p.once('exit', r));
  p.stdin.end();
  await new Promise((r) => (p.stdout.readableEnded ? r(null) : p.stdout.once('end', r)));
  return out;
}
