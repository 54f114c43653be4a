/**
 * `cg create` killed midway (SIGKILL between one hierarchy's mkdir and its
 * limit, after other hierarchies are done), as a runner's OOM kill or a
 * CI timeout would: the identical re-run completes the group, as a
 * cgcreate user expects, and the limit then holds (the group's own
 * cpu.stat counts throttling). A group someone else made with other limits
 * is still refused, in one line whose hint is the exact command that fixes
 * it. The kill lands at a point the test chooses: strace injects SIGKILL
 * at the open(2) of one cgroup file (-P FILE).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { execa } from 'execa';
import { bk, binPath, opens, running, signalGroupOf, skipReason, straceBin, testName } from '../harness/index.js';
import { enterLeaf, group, leaveLeaf, parent, sleep, until, withParent } from './env.js';

// a state dir of its own: the markers counted are this file's
const state = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'cg-interrupted-'));
const env = { BOXKIT_STATE_DIR: state };

async function cg(args: string[]) {
  const r = await bk('cg', args, { env });
  return { exitCode: r.exitCode ?? -1, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}

const made: string[] = [];
const name = (what: string) => {
  const n = testName(what);
  made.push(n);
  return n;
};

const strace = straceBin();
const noStrace = strace ? undefined : 'no strace to kill cg at a chosen write';

/** The group's directory for a controller, and the name of one of its limit files there. */
function fileOf(g: string, controller: 'cpu' | 'memory', v1: string, v2: string): string {
  const d = group(g).dirs.find((x) => x.controllers.includes(controller))!;
  return join(d.path, d.version === 1 ? v1 : v2);
}

/** `cg create ...` SIGKILLed at the open(2) of `file` (the write of that limit never happens). */
async function createKilledAt(file: string, args: string[]) {
  const e: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete e.NODE_EXTRA_CA_CERTS;
  return execa(strace!, ['-f', '-qq', '-o', '/dev/null', '-P', file, '-e', 'trace=openat', '-e', 'inject=openat:signal=KILL', binPath('cg'), ...args], { reject: false, env: e });
}

const markers = (st = state) => {
  const dir = join(st, 'cg', 'making');
  // (.lock: the lock of the markers, not one)
  return existsSync(dir) ? readdirSync(dir).filter((n) => n !== '.lock') : [];
};

/** Is someone holding the flock of `path` (flock(1) -n fails)? */
const locked = (path: string) => spawnSync('flock', ['-n', path, 'true']).status === 1;

/**
 * Can a group below the test's parent limit memory+swap (v1: memory.memsw.* in the parent; v2:
 * memory.swap.max there)? And is swap on at all (then, unaccounted, a memory limit alone lets more through)?
 */
function swapOf(g: string): { accounted: boolean; on: boolean } {
  const d = group(g).dirs.find((x) => x.controllers.includes('memory'))!;
  const accounted = existsSync(join(dirname(d.path), d.version === 1 ? 'memory.memsw.limit_in_bytes' : 'memory.swap.max'));
  const on = readFileSync('/proc/swaps', 'utf8').trim().split('\n').length > 1;
  return { accounted, on };
}

/**
 * A process holding the flock of `path` (as `user`; for `seconds`, or until killed), in a process group of its own (killed whole).
 * kill() signals the group only while its leader (flock, which waits for its sleep) is unreaped: once it ended (its
 * seconds over, or killed by an earlier kill()) the pgid may be another process group's, such as a container's
 * PID 1 in a session of its own.
 */
async function holdLock(path: string, seconds?: number, user?: number) {
  const cmd = ['flock', path, 'sleep', seconds === undefined ? 'infinity' : String(seconds)];
  const h = execa(user === undefined ? cmd[0]! : 'setpriv', user === undefined ? cmd.slice(1) : [`--reuid=${user}`, `--regid=${user}`, '--clear-groups', ...cmd], { reject: false, detached: true });
  await until(`the flock of ${path}`, () => locked(path));
  return { pid: h.pid!, kill: async () => {
    signalGroupOf(h, 'SIGKILL');
    await h;
  } };
}

describe.skipIf(skipReason ?? noStrace)(`cg create killed midway${skipReason ?? noStrace ? ` (skipped: ${skipReason ?? noStrace})` : ''}`, () => {
  beforeAll(() => enterLeaf());
  afterAll(async () => {
    for (const n of made) await cg(withParent(['rm', n, '--kill']));
    leaveLeaf();
    rmSync(state, { recursive: true, force: true });
  });

  it('killed before its CPU quota or its memory limit was written, the identical re-run completes the group, and the quota holds', async (ctx) => {
    const swap = swapOf(testName('swap-probe'));
    for (const [what, at] of [
      ['quota', (g: string) => fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max')],
      // later: the CPU hierarchy is complete, the memory one made with the default limit
      ['memory', (g: string) => fileOf(g, 'memory', 'memory.limit_in_bytes', 'memory.max')],
    ] as const) {
      const g = name(`killed-${what}`);
      // the top CPU weight: on a loaded machine the loop below still gets more than its quota asks for
      // (--memory-swap too where it can be accounted: with swap on, 64M of memory alone would let 100M through
      // to swap; where it cannot, create refuses it, exit 2)
      const args = withParent(['create', g, '--cpu-quota', '50000', '--memory', '64M', ...(swap.accounted ? ['--memory-swap', '64M'] : []), '--cpu-shares', '262144']);
      const killed = await createKilledAt(at(g), args);
      expect(killed.signal ?? killed.exitCode, killed.stderr).toBeOneOf(['SIGKILL', 137]);
      // half-made: there, with the default at the file it was killed at
      expect(existsSync(at(g).replace(/\/[^/]+$/, ''))).toBe(true);
      expect(readFileSync(at(g), 'utf8').trim()).toMatch(/^(-1|max( \d+)?|\d{19})$/);

      const again = await cg(args);
      expect(again.exitCode, `${what}: ${again.stderr}`).toBe(0);
      for (const d of group(g).dirs) expect(existsSync(d.path), d.path).toBe(true);
      expect(readFileSync(fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), 'utf8').trim()).toMatch(/^50000( 100000)?$/);
      expect(readFileSync(fileOf(g, 'memory', 'memory.limit_in_bytes', 'memory.max'), 'utf8').trim()).toBe(String(64 << 20));
      expect(markers()).toEqual([]);
      // the same create once more: idempotent
      expect((await cg(args)).exitCode).toBe(0);
    }
    // the real effect, in each group where the re-run wrote the limit (the killed run never did):
    // a busy loop in the one killed before its quota is throttled by the kernel...
    const [quota, memory] = made.slice(-2) as [string, string];
    const loop = await cg(withParent(['exec', quota, '--', 'timeout', '1.5', 'sh', '-c', 'while :; do :; done']));
    expect(loop.exitCode, loop.stderr).toBe(124);
    const stat = readFileSync(join(fileOf(quota, 'cpu', 'cpu.stat', 'cpu.stat')), 'utf8');
    expect(Number(/nr_throttled (\d+)/.exec(stat)?.[1])).toBeGreaterThan(0);
    // ...and in the one killed before its memory limit, 16M fits...
    const fit = await cg(withParent(['exec', memory, '--', 'perl', '-e', '$x = "a" x (16 << 20); print length $x']));
    expect(fit.stdout, fit.stderr).toBe(String(16 << 20));
    // ...but 100M is more than it may allocate: OOM-killed (137). Not where swap is on and cannot be
    // accounted: 64M of memory then lets the rest go to swap (as limits.test.ts skips its swap checks)
    if (swap.on && !swap.accounted) ctx.skip();
    const e: NodeJS.ProcessEnv = { ...process.env, ...env };
    delete e.NODE_EXTRA_CA_CERTS;
    const oom = await execa('sh', ['-c', `"$0" exec ${memory} --parent ${parent} -- perl -e '$x = "a" x (100 << 20); print length $x'; echo "status=$?"`, binPath('cg')], { reject: false, env: e });
    expect(oom.stdout, oom.stderr).toContain('status=137');
  });

  it('two creates of a group a killed create left, with other limits, run together: one finishes it, the other is refused (the dead marker is adopted once)', async () => {
    for (let round = 0; round < 4; round++) {
      const g = name(`race-${round}`);
      const at = fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max');
      const killed = await createKilledAt(at, withParent(['create', g, '--cpu-quota', '50000']));
      expect(killed.signal ?? killed.exitCode, killed.stderr).toBeOneOf(['SIGKILL', 137]);
      expect(markers()).toHaveLength(1);
      const [a, b] = await Promise.all([cg(withParent(['create', g, '--cpu-quota', '50000'])), cg(withParent(['create', g, '--cpu-quota', '20000']))]);
      const codes = [a.exitCode, b.exitCode];
      expect(codes.sort(), `${a.stderr}\n${b.stderr}`).toEqual([0, 1]);
      const won = a.exitCode === 0 ? '50000' : '20000';
      expect(readFileSync(at, 'utf8').trim()).toMatch(new RegExp(`^${won}( 100000)?$`));
      expect((a.exitCode === 0 ? b : a).stderr).toMatch(/exists with cpu\.(cfs_quota_us|max)=/);
      expect(markers()).toEqual([]);
    }
  });

  it('a state dir that cannot hold markers (its cg/making a file) means no marker: create works at once, as before markers', async () => {
    const odd = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? '/tmp', 'cg-odd-state-'));
    try {
      mkdirSync(join(odd, 'cg'));
      writeFileSync(join(odd, 'cg', 'making'), '');
      // "at once": no slower than a create with a usable state dir, timed here (a node start alone takes 1-5 s
      // in the cgroup v2 VM, so no absolute bound), plus 5 s; a wait for the 10 s deadline would exceed it
      let t = Date.now();
      const normal = await cg(withParent(['create', name('odd-state-normal'), '--cpu-quota', '50000']));
      const normalMs = Date.now() - t;
      expect(normal.exitCode, normal.stderr).toBe(0);
      const g = name('odd-state');
      t = Date.now();
      const r = await bk('cg', withParent(['create', g, '--cpu-quota', '50000']), { env: { BOXKIT_STATE_DIR: odd }, timeout: 60_000 });
      const oddMs = Date.now() - t;
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(oddMs, `normal create ${normalMs} ms`).toBeLessThan(normalMs + 5000);
      expect(readFileSync(fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), 'utf8').trim()).toMatch(/^50000( 100000)?$/);
    } finally {
      rmSync(odd, { recursive: true, force: true });
    }
  });

  it("another user's flock of the marker directory never stalls cg create (the lock is a 0600 file beside the markers), nor does a lock held past the deadline (a create stopped midway): no marker then", async () => {
    // a state dir others can reach, as /run/boxkit is (the test root is not)
    const open = mkdtempSync('/tmp/bk-cg-open-state-');
    chmodSync(open, 0o755);
    const making = join(open, 'cg', 'making');
    const lock = join(making, '.lock');
    const e = { BOXKIT_STATE_DIR: open };
    const holders: Awaited<ReturnType<typeof holdLock>>[] = [];
    try {
      mkdirSync(making, { recursive: true, mode: 0o755 });
      const first = await bk('cg', withParent(['create', name('open-first'), '--cpu-quota', '50000']), { env: e, timeout: 60_000 });
      expect(first.exitCode, String(first.stderr)).toBe(0);
      // nobody cannot even open the lock, so cannot hold it
      const nobody = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'flock', '-n', lock, 'true'], { encoding: 'utf8' });
      expect(nobody.status).not.toBe(0);
      expect(nobody.stderr).toMatch(/Permission denied/);
      // nobody holds an flock of the directory itself (the lock create took before): create does not wait for it
      const dirHolder = await holdLock(making, 30, 65534);
      holders.push(dirHolder);
      const r = await bk('cg', withParent(['create', name('open-dir-held'), '--cpu-quota', '50000']), { env: e, timeout: 60_000 });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      expect(running(dirHolder.pid)).toBe(true);
      // a create stopped while it held the lock: the next one waits out the deadline, then goes on without a marker
      const stopped = await holdLock(lock, 50);
      holders.push(stopped);
      const g = name('open-lock-held');
      const s = await bk('cg', withParent(['create', g, '--cpu-quota', '50000']), { env: e, timeout: 45_000 });
      expect(s.exitCode, String(s.stderr)).toBe(0);
      expect(running(stopped.pid)).toBe(true);
      expect(readFileSync(fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), 'utf8').trim()).toMatch(/^50000( 100000)?$/);
      expect(markers(open)).toEqual([]);
    } finally {
      for (const h of holders) await h.kill();
      rmSync(open, { recursive: true, force: true });
    }
  }, 120_000);

  it('cg rm of a group a killed create left removes its marker under the lock of the markers: it waits for a create holding it, and says so once', async () => {
    const g = name('rm-locked');
    const killed = await createKilledAt(fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), withParent(['create', g, '--cpu-quota', '50000']));
    expect(killed.signal ?? killed.exitCode, killed.stderr).toBeOneOf(['SIGKILL', 137]);
    expect(markers()).toHaveLength(1);
    const lock = join(state, 'cg', 'making', '.lock');
    // held with no time limit: only the test lets go of it (a slow node start must not outlast the holder)
    const holder = await holdLock(lock);
    try {
      const e: NodeJS.ProcessEnv = { ...process.env, ...env };
      delete e.NODE_EXTRA_CA_CERTS;
      const rm = execa(binPath('cg'), withParent(['rm', g]), { reject: false, env: e });
      // rm has the lock file open (retrying its flock): it got as far as the marker's lock
      const real = realpathSync(lock); // (as /proc/PID/fd names it)
      await until('cg rm to open the lock', () => opens(rm.pid!, real));
      // the group itself is gone already (removed before the marker), the marker still there: rm waits
      await sleep(1500);
      expect(running(rm.pid!)).toBe(true);
      expect(markers()).toHaveLength(1);
      await holder.kill();
      const r = await rm;
      expect(r.exitCode, r.stderr).toBe(0);
      expect(markers()).toEqual([]);
      // the wait past 1 s was said, once, naming the lock
      const waits = r.stderr.split('\n').filter((l) => l.includes(lock));
      expect(waits, r.stderr).toHaveLength(1);
      expect(waits[0]).toMatch(/^cg: waiting up to 10s for .*\.lock, held by another process/);
    } finally {
      await holder.kill();
    }
  }, 90_000);

  it('cg set and cg rm of a group a killed create left, the lock of the markers held past the deadline: set fails before writing anything, rm warns that the marker may be left', async () => {
    const g = name('set-locked');
    const quota = fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max');
    const killed = await createKilledAt(quota, withParent(['create', g, '--cpu-quota', '50000']));
    expect(killed.signal ?? killed.exitCode, killed.stderr).toBeOneOf(['SIGKILL', 137]);
    expect(markers()).toHaveLength(1);
    const before = readFileSync(quota, 'utf8');
    const lock = join(state, 'cg', 'making', '.lock');
    const holder = await holdLock(lock);
    try {
      const set = await cg(withParent(['set', g, '--cpu-quota', '20000']));
      expect(set.exitCode, set.stderr).toBe(1);
      const lines = set.stderr.split('\n').filter(Boolean);
      expect(lines.find((l) => l.startsWith('cg: cannot set')), set.stderr).toBe(`cg: cannot set ${g}: ${lock} was held by another process for 10s (a cg create stopped midway?); nothing was changed`);
      // nothing changed: the limit the killed create left, and its marker
      expect(readFileSync(quota, 'utf8')).toBe(before);
      expect(markers()).toHaveLength(1);
      const rm = await cg(withParent(['rm', g]));
      expect(rm.exitCode, rm.stderr).toBe(0);
      expect(rm.stderr.split('\n').filter((l) => l.includes('may be left')), rm.stderr).toHaveLength(1);
      expect(group(g).dirs.some((d) => existsSync(d.path))).toBe(false);
    } finally {
      await holder.kill();
    }
    // once the holder is gone, rm drops the marker
    expect((await cg(withParent(['rm', g]))).exitCode).toBe(0);
    expect(markers()).toEqual([]);
  }, 120_000);

  it("a group someone else made with other limits is still refused, in one line whose hint is the command that fixes it; a killed create's group that was removed is not taken for ours", async () => {
    const g = name('foreign');
    // made by hand (as cgcreate -g cpu:G would), default limits, in one hierarchy
    const cpuDir = fileOf(g, 'cpu', 'x', 'x').replace(/\/x$/, '');
    mkdirSync(cpuDir);
    const r = await cg(withParent(['create', g, '--cpu-quota', '50000']));
    expect(r.exitCode).toBe(1);
    const [msg, hint, ...rest] = r.stderr.split('\n').filter(Boolean);
    expect(msg).toMatch(new RegExp(`^cg: group ${g} exists with cpu\\.(cfs_quota_us=-1|max=max 100000), not 50000`));
    expect(hint).toBe(`hint: to give it these limits: cg set ${g} --parent ${parent} --cpu-quota 50000 (or remove it first: cg rm ${g} --parent ${parent})`);
    expect(rest).toEqual([]);
    // nothing made in the other hierarchies, no marker left
    for (const d of group(g).dirs) if (d.path !== cpuDir) expect(existsSync(d.path), d.path).toBe(false);
    expect(markers()).toEqual([]);
    // the hint's command works, and create is then idempotent
    const fix = await cg(hint!.replace(/^hint: to give it these limits: cg /, '').replace(/ \(or remove.*$/, '').split(' '));
    expect(fix.exitCode, fix.stderr).toBe(0);
    expect((await cg(withParent(['create', g, '--cpu-quota', '50000']))).exitCode).toBe(0);
    expect((await cg(withParent(['rm', g]))).exitCode).toBe(0);

    // killed midway, then removed with cg rm: a group made by hand there afterwards is someone else's
    const killed = await createKilledAt(fileOf(g, 'cpu', 'cpu.cfs_quota_us', 'cpu.max'), withParent(['create', g, '--cpu-quota', '50000']));
    expect(killed.signal ?? killed.exitCode).toBeOneOf(['SIGKILL', 137]);
    expect(markers()).toHaveLength(1);
    expect((await cg(withParent(['rm', g]))).exitCode).toBe(0);
    expect(markers()).toEqual([]);
    mkdirSync(cpuDir);
    try {
      expect((await cg(withParent(['create', g, '--cpu-quota', '50000']))).exitCode).toBe(1);
    } finally {
      rmdirSync(cpuDir);
    }
  });
});
