/**
 * SIGTERM, SIGINT or SIGHUP while unionfs writes a layer (mount --lower-tar and
 * extract extracting one, commit writing one): what it made goes before it
 * ends, and it ends by that signal (143/130/129 in a shell), as it did before.
 * (A SIGKILL still leaves the layer store's temp dir to the next sweep:
 * stale-tmp.test.ts.) Before, a SIGTERM left the temp dir or file behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, pin, signalPinned, skipReason, straceBin, unreaped, type Pinned } from '../harness/index.js';
import { detachAll, files, mountsUnder, scratch } from './helpers.js';

const title = (t: string) => `${t}${skipReason ? ` (skipped: ${skipReason})` : ''}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Run the unionfs bin with `args`; once `started(pid)` holds (its work is under way), send `sig`.
 * Returns how it ended and whether it was still at work when the signal went.
 */
async function stopWhile(args: string[], sig: NodeJS.Signals, started: (pid: number) => boolean, env: NodeJS.ProcessEnv = {}): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  // (the bin's stub execs node: the pid in the temp names is the child's)
  const child = spawn(binPath('unionfs'), args, { env: e, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  for (let i = 0; i < 4000 && child.exitCode === null && !started(child.pid!); i++) await sleep(2);
  expect(child.exitCode, `still at work when ${sig} was sent: ${stderr}`).toBe(null);
  child.kill(sig);
  await exited;
  return { signal: child.signalCode, code: child.exitCode, stderr };
}

describe.skipIf(skipReason)(title('unionfs stopped by SIGTERM/SIGINT/SIGHUP mid-write removes what it made'), () => {
  let d = '', tar = '', digest = '';
  beforeAll(() => {
    d = scratch('stopped');
    files(d, { 'base/x': 'x' });
    // ~60 MB in 3000 files: long enough to write that the signal lands in the middle
    const big = join(d, 'big');
    const block = Buffer.alloc(20_000, 'b');
    for (let i = 0; i < 3000; i++) {
      if (i % 100 === 0) mkdirSync(join(big, `d${i / 100}`), { recursive: true });
      writeFileSync(join(big, `d${Math.floor(i / 100)}`, `f${i}`), block);
    }
    tar = join(d, 'big.tar');
    // sorted: d1/ comes early in the tarball whatever order this file system lists the dirs in
    // (the tests signal once d1 appears; in readdir order it could come last)
    execFileSync('tar', ['--sort=name', '-C', big, '-cf', tar, '.']);
    digest = createHash('sha256').update(readFileSync(tar)).digest('hex');
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
    rmSync(d, { recursive: true, force: true });
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('mount --lower-tar, %s mid-extraction: no temp dir, no layer store it made, no mount point; ends by the signal', async (sig) => {
    const data = join(d, `data-${sig}`);
    const store = join(data, 'unionfs', 'layers');
    const mnt = join(d, `mnt-${sig}`);
    const r = await stopWhile(['mount', '--lower-tar', tar, '--lower', join(d, 'base'), mnt], sig,
      (pid) => existsSync(join(store, `${digest}.${pid}.tmp`, 'd1')), { BOXKIT_DATA_DIR: data });
    expect(r.signal, r.stderr).toBe(sig);
    expect(r.stderr).toBe('');
    expect(existsSync(data), `${data}: ${existsSync(store) ? readdirSync(store) : ''}`).toBe(false);
    expect(existsSync(mnt)).toBe(false);
    expect(mountsUnder(mnt)).toEqual([]);
  });

  it('mount --lower-tar into a store that was there: only the temp dir goes (the store and other layers stay)', async () => {
    const data = join(d, 'data-kept');
    const store = join(data, 'unionfs', 'layers');
    files(store, { 'other/f': 'another layer' });
    const mnt = join(d, 'mnt-kept');
    const r = await stopWhile(['mount', '--lower-tar', tar, '--lower', join(d, 'base'), mnt], 'SIGTERM',
      (pid) => existsSync(join(store, `${digest}.${pid}.tmp`, 'd1')), { BOXKIT_DATA_DIR: data });
    expect(r.signal, r.stderr).toBe('SIGTERM');
    expect(readdirSync(store)).toEqual(['other']);
    expect(existsSync(mnt)).toBe(false);
  });

  it('extract, SIGTERM mid-extraction: neither DIR nor DIR.PID.tmp nor the parents it made are left', async () => {
    const dir = join(d, 'ex/new/layer');
    mkdirSync(join(d, 'ex'));
    const r = await stopWhile(['extract', tar, dir], 'SIGTERM', (pid) => existsSync(join(d, 'ex/new', `layer.${pid}.tmp`, 'd1')));
    expect(r.signal, r.stderr).toBe('SIGTERM');
    expect(readdirSync(join(d, 'ex'))).toEqual([]);
  });

  it('commit, SIGTERM mid-write: no partial tarball (nor its temp file) is left beside OUT', async () => {
    const outDir = join(d, 'commit-out');
    mkdirSync(outDir);
    const out = join(outDir, 'layer.tar');
    const r = await stopWhile(['commit', join(d, 'big'), out], 'SIGTERM', (pid) => {
      try {
        return statSync(join(outDir, `.layer.tar.${pid}.tmp`)).size > 4 << 20;
      } catch {
        return false;
      }
    });
    expect(r.signal, r.stderr).toBe('SIGTERM');
    expect(readdirSync(outDir)).toEqual([]);
  });
});

const strace = straceBin();
const noStrace = skipReason ?? (strace ? undefined : 'no strace to hold a syscall while the signal comes');

/**
 * A signal that comes during the last, synchronous step (the mount(2) itself; the close of the finished
 * tarball before its rename into place) ends it as one earlier does: what was made goes, the process ends
 * by the signal. Before, its handler ran only after the work had returned: the signal was lost, the mount
 * (or OUT) stayed and the exit was 0 (a shell loop given Ctrl-C went on). strace holds that syscall 1.5 s
 * at its entry; the signal sent meanwhile is delivered as it returns.
 */
describe.skipIf(noStrace)(`unionfs stopped during its last step undoes it${noStrace ? ` (skipped: ${noStrace})` : ''}`, () => {
  let d = '';
  beforeAll(() => {
    d = scratch('stopped-last');
    files(d, { 'low/a': 'a', 'up/b': 'b' });
  });
  afterAll(() => {
    const left = mountsUnder(d);
    detachAll(d);
    expect(left).toEqual([]);
    rmSync(d, { recursive: true, force: true });
  });

  const env = () => {
    const e: NodeJS.ProcessEnv = { ...process.env };
    delete e.NODE_EXTRA_CA_CERTS;
    return e;
  };
  /**
   * `child` (or its only child: strace's tracee, pinned when first seen) signalled once `ready()` holds,
   * 300 ms into the held syscall. Only while `child` is unreaped: once its exit was seen its pid, and
   * its tracee's (reaped by strace), may be another process's.
   */
  async function signalWhen(child: ReturnType<typeof spawn>, target: () => Pinned | 'child', ready: () => boolean, sig: NodeJS.Signals) {
    const exited = new Promise<void>((res) => child.once('exit', () => res()));
    for (let i = 0; i < 2500 && child.exitCode === null && !ready(); i++) await sleep(2);
    await sleep(300);
    if (unreaped(child)) {
      const t = target();
      if (t === 'child') child.kill(sig);
      else signalPinned(t, sig);
    }
    await exited;
  }
  const straced = (s: number) => pin(Number(readFileSync(`/proc/${s}/task/${s}/children`, 'utf8').trim().split(' ')[0]));

  it.each(['SIGTERM', 'SIGINT'] as const)('mount, %s during mount(2): no mount, no upper or mount point it made; ends by the signal', async (sig) => {
    const mnt = join(d, `mnt-${sig}`);
    const upper = join(d, `upper-${sig}`);
    let status: number | null = null;
    let stderr = '';
    let signal: NodeJS.Signals | null = null;
    let tracee: Pinned | undefined;
    const child = spawn(strace!, ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=mount', '-e', 'inject=mount:delay_enter=1500000',
      binPath('unionfs'), 'mount', '--lower', join(d, 'low'), '--upper', upper, mnt], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr!.on('data', (b: Buffer) => (stderr += b));
    // (strace exits as its tracee did: killed by a signal, it kills itself with it)
    child.once('exit', (c, s) => ((status = c), (signal = s)));
    await signalWhen(child, () => (tracee ??= straced(child.pid!)), () => existsSync(mnt), sig);
    expect(signal ?? status, stderr).toBe(sig);
    expect(mountsUnder(mnt)).toEqual([]);
    expect(existsSync(mnt)).toBe(false);
    expect(existsSync(upper)).toBe(false);
  });

  it('commit, SIGTERM during the close of the finished tarball: no OUT, no temp file; ends by the signal', async () => {
    const outDir = join(d, 'commit-out');
    mkdirSync(outDir);
    const go = join(d, 'go');
    execFileSync('mkfifo', [go]);
    // the pid is known before unionfs runs (sh execs it): strace attaches to it, holding only the close of its temp file
    const sh = spawn('sh', ['-c', 'read _ < "$1"; shift; exec "$@"', 'sh', go, binPath('unionfs'), 'commit', join(d, 'up'), join(outDir, 'layer.tar')], { env: env(), stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    sh.stderr!.on('data', (b: Buffer) => (stderr += b));
    const tmp = join(outDir, `.layer.tar.${sh.pid}.tmp`);
    const tracer = spawn(strace!, ['-p', String(sh.pid), '-f', '-qq', '-o', '/dev/null', '-P', tmp, '-e', 'trace=close', '-e', 'inject=close:delay_enter=1500000'], { stdio: 'ignore' });
    const traced = new Promise<void>((res) => tracer.once('exit', () => res()));
    for (let i = 0; i < 2500 && !/TracerPid:\s*[1-9]/.test(readFileSync(`/proc/${sh.pid}/status`, 'utf8')); i++) await sleep(2);
    writeFileSync(go, '\n');
    await signalWhen(sh, () => 'child', () => existsSync(tmp), 'SIGTERM');
    await traced;
    expect(sh.signalCode, stderr).toBe('SIGTERM');
    expect(readdirSync(outDir)).toEqual([]);
  });
});
