/**
 * What docker users read back from run: a detached container's exit code
 * and end time (ps -a, inspect), dry runs that say what the real command
 * would do (exec, gc), logs -f that follows one container (by id), and
 * refusals worded as cg words them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, bk, isPinned, poll, running, signalPinned, skipReason, waitUntil, type Pinned } from '../harness/index.js';
import { BASE, keeperOf, name, pid1Of, run, toolsBinDir } from './helpers.js';

const made: string[] = [];
const stateFile = (n: string) => `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

const rec = (x: string) => JSON.parse(readFileSync(stateFile(x), 'utf8'));
/** Replace a record at once (as the store's atomic write does). */
const put = (x: string, r: object) => {
  writeFileSync(`${stateFile(x)}.tmp`, JSON.stringify(r));
  renameSync(`${stateFile(x)}.tmp`, stateFile(x));
};
/** NAME becomes OTHER's at one stroke (as `rm -f NAME; run --name NAME` between two looks); NAME's record moves aside to MOVED. */
function giveName(n: string, other: string, moved: string): void {
  put(moved, { ...rec(n), name: moved });
  put(n, { ...rec(other), name: n });
  rmSync(stateFile(other));
}

/**
 * `run ARGS` while this test holds run's store lock: it must wait for it
 * (still running after 1.5 s); `meanwhile` runs while it waits, then the
 * lock goes. Its exit code.
 */
async function whileLocked(args: string[], meanwhile: () => Promise<void> | void): Promise<number | null> {
  const lock = `${process.env.BOXKIT_STATE_DIR}/run/lock`;
  const { flock, LOCK } = await import('@boxkit/native');
  const fd = openSync(lock, 'a', 0o600);
  flock(fd, LOCK.EX, lock);
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const p = spawn(process.execPath, [binPath('run'), ...args], { env, stdio: 'ignore' });
  const done = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  try {
    await wait(1500);
    expect(p.exitCode).toBe(null);
    await meanwhile();
  } finally {
    closeSync(fd);
  }
  return done;
}

/**
 * A -d container ends with nobody to record or remove it: its keeper killed, then its PID 1.
 * Both as the record names them (pid and start time): a PID 1 that ended with its keeper was
 * reaped at once, and its pid may be another test's process by the time it is signalled.
 */
async function endWithoutKeeper(g: { creatorPid: number; creatorStart?: number; pid: number; pidStart?: number }): Promise<void> {
  const keeper = keeperOf(g), pid1 = pid1Of(g);
  signalPinned(keeper);
  await waitUntil('the killed keeper to be gone', () => !isPinned(keeper) || !running(keeper.pid));
  signalPinned(pid1);
  await waitUntil('the killed PID 1 to end', () => !isPinned(pid1) || !running(pid1.pid));
}

/** NAME is the container ID's: its record, and it runs (its cgroup and processes were left alone). */
async function expectOnly(n: string, id: string): Promise<void> {
  expect(rec(n).id).toBe(id);
  expect(JSON.parse((await run(['inspect', n])).out)[0]).toMatchObject({ id, status: 'running' });
  expect((await run(['exec', n, 'true'], null)).code).toBe(0);
}

describe.skipIf(skipReason)(`run: what docker users read back${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    for (const n of made) await run(['rm', '-f', n], null);
  });

  it('a damaged record (junk, or JSON that is no record) is skipped by ps and gc with a warning naming it, rm -f forgets it, and gc never strips a container that still runs', async () => {
    const top = mkdtempSync('/tmp/bk-damaged.');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: `${top}/state`, BOXKIT_DATA_DIR: `${top}/data` };
    delete env.NODE_EXTRA_CA_CERTS;
    const own = (args: string[]) => bk('run', args, { env });
    const [ok, bad, odd] = [name('dmg-ok'), name('dmg-bad'), name('dmg-odd')];
    const file = (n: string) => `${top}/state/run/containers/${n}.json`;
    let lost: { id: string; pid: number; pidStart?: number; cgroup: { dirs: { path: string }[] } } | undefined;
    let lostPid1: Pinned | undefined;
    try {
      for (const n of [ok, bad]) expect((await own(['-d', '--name', n, ...BASE, '--', 'sleep', '600'])).exitCode).toBe(0);
      lost = JSON.parse(readFileSync(file(bad), 'utf8'));
      lostPid1 = pid1Of(lost!);
      writeFileSync(file(bad), 'junk\n');
      writeFileSync(file(odd), '{"name":"x"}\n');
      const ps = await own(['ps', '-a']);
      expect(ps.exitCode, String(ps.stderr)).toBe(0);
      expect(String(ps.stdout)).toContain(ok);
      const warnings = String(ps.stderr).split('\n').filter(Boolean);
      expect(warnings, warnings.join("\n")).toHaveLength(2);
      expect(warnings.find((l) => l.includes(file(bad)))).toMatch(/^run: warning: .*not valid JSON.*: skipped \(run rm -f /);
      expect(warnings.find((l) => l.includes(file(odd)))).toMatch(/not a container record/);
      expect((await own(['inspect', ok])).exitCode).toBe(0);
      expect(String((await own(['stop', 'nosuch-dmg'])).stderr)).toMatch(/no such container: nosuch-dmg/);
      // gc with a damaged record: nothing of the unknown container is swept (its data dir could be any)
      const gc1 = await own(['gc']);
      expect(gc1.exitCode).toBe(0);
      expect(String(gc1.stderr)).toMatch(/data dirs not swept while/);
      expect(existsSync(`${top}/data/containers/${lost!.id}`)).toBe(true);
      // forgotten, as the hint says: its container runs on, so gc leaves its data alone and says why
      for (const n of [bad, odd]) expect((await own(['rm', '-f', n])).exitCode).toBe(0);
      expect(existsSync(file(bad))).toBe(false);
      const gc2 = await own(['gc']);
      expect(String(gc2.stderr)).toContain(`${lost!.id}: no record, but pid `);
      expect(existsSync(`${top}/data/containers/${lost!.id}/upper`)).toBe(true);
      expect(running(lost!.pid)).toBe(true);
      // once it has ended, gc takes its data
      signalPinned(lostPid1!);
      await waitUntil('the unrecorded container to end', () => !isPinned(lostPid1!) || !running(lost!.pid));
      expect(JSON.parse(String((await own(['gc', '--json'])).stdout)).orphans).toEqual([lost!.id]);
      expect(existsSync(`${top}/data/containers/${lost!.id}`)).toBe(false);
      // and its cgroup, named by its id (the record that named its parent is gone: gc looks under its own, as made here)
      expect(lost!.cgroup.dirs.filter((d) => existsSync(d.path))).toEqual([]);
    } finally {
      await own(['rm', '-f', ok]);
      if (lost) {
        // only while its pid names it still: on the way here it was killed already, and reaped by its
        // keeper (this kill then hit whatever process had been given its pid since)
        const pid1 = lostPid1!;
        signalPinned(pid1);
        await waitUntil('the unrecorded container to end', () => !isPinned(pid1) || !running(pid1.pid));
        // its group (no record names it any more): as an operator would, by hand
        for (const d of lost.cgroup.dirs) await waitUntil(`${d.path} to be removed`, () => {
          try {
            rmdirSync(d.path);
          } catch {
            // busy a moment longer
          }
          return !existsSync(d.path);
        });
      }
      if (lost) spawnSync('umount', ['-l', `${top}/data/containers/${lost.id}/rootfs`]);
      rmSync(top, { recursive: true, force: true });
    }
  }, 90_000);

  it('a full state dir: the start fails naming the file it could not write, with a hint, and leaves nothing', async () => {
    const top = mkdtempSync('/tmp/bk-full.');
    // a tiny file system of its own (the sandbox's mount namespace), filled up
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', top]);
    try {
      mkdirSync(`${top}/state/run/containers`, { recursive: true });
      spawnSync('dd', ['if=/dev/zero', `of=${top}/fill`, 'bs=4k', 'count=100'], { stdio: 'ignore' });
      const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: `${top}/state` };
      delete env.NODE_EXTRA_CA_CERTS;
      const n = name('full');
      const r = await bk('run', ['--name', n, ...BASE, '--', 'true'], { env });
      expect(r.exitCode).toBe(125);
      expect(String(r.stderr).split('\n')).toEqual([`run: cannot write ${top}/state/run/containers/${n}.json: no space left on device`, `hint: the file system holding ${top}/state/run/containers is full or read-only`]);
      expect(readdirSync(`${top}/state/run/containers`)).toEqual([]);
    } finally {
      execFileSync('umount', [top]);
      rmSync(top, { recursive: true, force: true });
    }
  });

  it('gc --dry-run --json is one document with the commands it would run (as every --dry-run --json), and changes nothing', async () => {
    // state and data of its own: gc sees every container of its dirs, and what an earlier file left would be in its lists
    const top = mkdtempSync('/tmp/bk-gcdry.');
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: `${top}/state`, BOXKIT_DATA_DIR: `${top}/data` };
    delete env.NODE_EXTRA_CA_CERTS;
    const own = async (args: string[]) => {
      const r = await bk('run', args, { env });
      expect(r.exitCode, `run ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return String(r.stdout);
    };
    // garbage: a record left 'creating' by a run that is gone, and a data dir no record names
    const n = name('gcdry');
    const record = `${top}/state/run/containers/${n}.json`;
    try {
      await own(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
      await own(['stop', '--time', '0', n]);
      const dead = spawnSync('true').pid!;
      writeFileSync(record, JSON.stringify({ ...JSON.parse(readFileSync(record, 'utf8')), status: 'creating', creatorPid: dead, creatorStart: 1 }));
      const orphan = join(`${top}/data`, 'containers', 'feedfacecafe');
      mkdirSync(orphan, { recursive: true });
      // exit files: ones a bk-keeper (pid `dead`) was writing aside when it was killed (for the garbage
      // container, which takes it with it, and for one that has no record), one left for a container that
      // has no record; and one being written right now (this live process): kept
      const dir = `${top}/state/run/containers`;
      const ownAside = `${dir}/${n}.exit.${dead}.tmp`;
      const aside = `${dir}/gone-${n}.exit.${dead}.tmp`;
      const nobodys = `${dir}/gone-${n}.exit`;
      const live = `${dir}/${n}.exit.${process.pid}.tmp`;
      // and a record a run killed as it wrote it left aside (its own goes with it; another's stays until its pid is gone)
      const recordAside = `${dir}/gone-${n}.json.${dead}.tmp`;
      for (const f of [ownAside, aside, nobodys, live, recordAside]) writeFileSync(f, 'feedfacecafe 0\n');
      const files = [aside, nobodys, recordAside].sort();
      // a layer a killed `run --image` was extracting, and one a live extraction (this process) is at
      const layers = `${top}/data/unionfs/layers`;
      const [halfLayer, liveLayer] = [`${layers}/${'ab'.repeat(32)}.${dead}.tmp`, `${layers}/${'cd'.repeat(32)}.${process.pid}.tmp`];
      for (const l of [halfLayer, liveLayer]) mkdirSync(join(l, 'bin'), { recursive: true });

      const doc = JSON.parse(await own(['gc', '--dry-run', '--json']));
      expect(doc).toMatchObject({ dryRun: true, removed: [n], orphans: ['feedfacecafe'] });
      expect([...doc.files].sort()).toEqual(files);
      // (the container's cgroup is named after its id)
      const id = JSON.parse(readFileSync(record, 'utf8')).id as string;
      expect(doc.layers).toEqual([halfLayer]);
      expect(doc.commands).toEqual(expect.arrayContaining([`cg rm ${id} --parent self`, `rm -rf ${orphan}`, ...files.map((f) => `rm -f ${f}`), `rm -rf ${halfLayer}`]));
      const human = await own(['gc', '--dry-run']);
      expect(human.split('\n')).toEqual(doc.commands);
      expect(existsSync(record)).toBe(true);
      expect(existsSync(orphan)).toBe(true);
      for (const f of [ownAside, aside, nobodys, live, recordAside, halfLayer, liveLayer]) expect(existsSync(f)).toBe(true);

      const done = JSON.parse(await own(['gc', '--json']));
      expect({ ...done, files: [...done.files].sort() }).toEqual({ removed: [n], orphans: ['feedfacecafe'], files, layers: [halfLayer], rootfs: [], ranFrom: [] });
      expect(existsSync(record)).toBe(false);
      expect(existsSync(orphan)).toBe(false);
      expect([ownAside, aside, nobodys, live, recordAside, halfLayer, liveLayer].map((f) => existsSync(f))).toEqual([false, false, false, true, false, false, true]);
    } finally {
      await bk('run', ['rm', '-f', n], { env });
      rmSync(top, { recursive: true, force: true });
    }
  });

  it("--cpus, --cpu-quota and --cpu-period are refused as cg refuses them, in cg's words, before anything is made", async () => {
    for (const flags of [['--cpus', '0.001'], ['--cpus', '2000'], ['--cpus', '0.5', '--cpu-quota', '50000'], ['--cpu-quota', '500'], ['--cpu-period', '500']]) {
      const ours = await run(['--rm', ...BASE, ...flags, '--', 'true'], 125);
      const cg = await bk('cg', ['create', name('cpus'), '--parent', 'self', '--dry-run', ...flags]);
      expect(cg.exitCode, flags.join(' ')).toBe(2);
      expect(ours.err, flags.join(' ')).toBe(String(cg.stderr).trim().replace(/^cg: /, 'run: '));
    }
    expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
  });

  it('exec --dry-run prints what the real exec does with -i, -t and -d: pasted into a shell, the command reads the same stdin, has a terminal, or is left running', async () => {
    const n = name('execdry');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    const env: NodeJS.ProcessEnv = { ...process.env, PATH: `${toolsBinDir()}:${process.env.PATH}` };
    delete env.NODE_EXTRA_CA_CERTS;
    const sh = (line: string) => spawnSync('bash', ['-c', line], { env, input: 'piped in\n', encoding: 'utf8', timeout: 20_000 });
    const real = (args: string[]) => spawnSync(process.execPath, [binPath('run'), ...args], { env, input: 'piped in\n', encoding: 'utf8', timeout: 20_000 });
    const dry = async (flags: string[], cmd: string[]) => {
      const line = (await run(['exec', '--dry-run', ...flags, n, ...cmd])).out;
      expect(line.split('\n')).toHaveLength(1);
      return line;
    };
    const cat = ['sh', '-c', 'cat; [ -t 0 ] && echo tty; true'];
    // without -i: /dev/null, as the real exec
    expect(sh(await dry([], cat)).stdout).toBe(real(['exec', n, ...cat]).stdout);
    expect(real(['exec', n, ...cat]).stdout).toBe('');
    // in the container's cgroup (every hierarchy it has, no other), as the real exec
    const cgroups = ['cat', '/proc/self/cgroup'];
    expect(sh(await dry([], cgroups)).stdout).toBe(real(['exec', n, ...cgroups]).stdout);
    // -i: the caller's stdin
    expect(sh(await dry(['-i'], cat)).stdout).toBe('piped in\n');
    expect(real(['exec', '-i', n, ...cat]).stdout).toBe('piped in\n');
    // -t: a terminal
    const tty = ['sh', '-c', '[ -t 0 ] && [ -t 1 ] && echo tty'];
    expect(real(['exec', '-t', n, ...tty]).stdout).toContain('tty');
    expect(sh(await dry(['-t'], tty)).stdout).toContain('tty');
    // -d: the shell goes on at once, the command runs on without it
    // (5 s, timed from the shell's start: on a loaded machine bash + nsenter alone can take a second)
    const later = ['sh', '-c', 'sleep 5; touch /tmp/later'];
    const line = await dry(['-d'], later);
    const t0 = Date.now();
    const d = sh(line);
    expect([d.status, d.stdout, Date.now() - t0 < 5000]).toEqual([0, '', true]);
    expect((await poll(() => run(['exec', n, 'test', '-e', '/tmp/later'], null), (r) => r.code === 0, 30_000)).code).toBe(0);
    // the JSON document says which
    expect(JSON.parse((await run(['exec', '--dry-run', '--json', '-i', n, 'true'])).out)).toMatchObject({ dryRun: true, interactive: true, tty: false, detach: false });
  });

  it("a -d container that ends on its own has its exit status and end time, as docker ps -a's 'Exited (3) 5 seconds ago' and inspect", async () => {
    const n = name('exit3');
    made.push(n);
    const t0 = Date.now();
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'sleep 0.3; exit 3']);
    // no ps in between: the record itself says how it ended
    const ended = async () => {
      for (let i = 0; i < 600; i++) {
        const r = JSON.parse(readFileSync(stateFile(n), 'utf8'));
        if (r.status === 'exited') return r;
        await wait(50);
      }
      throw new Error(`${n} never recorded its end`);
    };
    const rec = await ended();
    expect(rec.exitCode).toBe(3);
    expect(Date.parse(rec.finished)).toBeGreaterThanOrEqual(t0);
    const [insp] = JSON.parse((await run(['inspect', n])).out);
    expect(insp).toMatchObject({ status: 'exited', exitCode: 3, finished: rec.finished, pid: null });
    const row = (await run(['ps', '-a'])).out.split('\n').find((l) => l.startsWith(`${n} `))!;
    expect(row).toMatch(/ exited \(3\) (less than a second|\d+ seconds?) ago /);
    expect(JSON.parse((await run(['ps', '-a', '--json'])).out).find((r: { name: string }) => r.name === n)).toMatchObject({ status: 'exited', exitCode: 3, finished: rec.finished });
    // killed by a signal: 128+N (with --init, whose child the signal killed)
    const s = name('sig');
    made.push(s);
    await run(['-d', '--name', s, ...BASE, '--init', '--', 'sh', '-c', 'kill -USR1 $$']);
    await waitUntil(`${s} to record its end`, () => JSON.parse(readFileSync(stateFile(s), 'utf8')).status === 'exited');
    expect(JSON.parse((await run(['inspect', s])).out)[0]).toMatchObject({ status: 'exited', exitCode: 138 });
  });

  it('run stop records what docker stop would show: 143 for a container that SIGTERM ended, 137 when it had to be killed', async () => {
    const term = name('stop143');
    const kill = name('stop137');
    made.push(term, kill);
    await run(['-d', '--name', term, ...BASE, '--init', '--', 'sleep', '600']);
    await run(['-d', '--name', kill, ...BASE, '--', 'sh', '-c', "trap '' TERM; sleep 600 & wait; sleep 600"]);
    await run(['stop', '--time', '1', term, kill]);
    const recs = JSON.parse((await run(['inspect', term, kill])).out);
    expect(recs.map((r: { exitCode: number; status: string }) => [r.status, r.exitCode])).toEqual([['exited', 143], ['exited', 137]]);
    const ps = (await run(['ps', '-a'])).out;
    expect(ps).toMatch(new RegExp(`^${term} .* exited \\(143\\) `, 'm'));
    expect(ps).toMatch(new RegExp(`^${kill} .* exited \\(137\\) `, 'm'));
  });

  it('a -d --rm container is removed as soon as it ends (no ps or gc needed), and nothing stays behind for it', async () => {
    const n = name('drm');
    // (2 s: on a loaded machine run -d can return a second after the container started)
    const id = (await run(['-d', '--rm', '--name', n, ...BASE, '--', 'sh', '-c', 'sleep 2']))!.out.trim();
    expect(existsSync(stateFile(n))).toBe(true);
    await waitUntil(`${n} to be removed`, () => !existsSync(stateFile(n)), 30_000);
    expect(existsSync(join(process.env.BOXKIT_DATA_DIR!, 'containers', id))).toBe(false);
    // and its keeper is gone with it (it exits a moment after the removal)
    const keepers = () => spawnSync('pgrep', ['-f', `run keeper ${n}$`], { encoding: 'utf8' }).stdout.trim();
    expect(await poll(keepers, (k) => k === '')).toBe('');
  });

  it('-d failures are reported by run -d itself, with the usual exit codes, and leave nothing', async () => {
    const missing = await run(['-d', '--name', name('nocmd'), ...BASE, '--', '/no/such/cmd'], 127);
    expect(missing.err).toMatch(/^run: \/no\/such\/cmd: /);
    const n = name('twice');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    const again = await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600'], 125);
    expect(again.err.split('\n')).toEqual([`run: container name '${n}' is already in use`, `hint: run rm ${n}`]);
    // -v's steps come back too
    const v = name('verbose');
    made.push(v);
    const verbose = await run(['-d', '-v', '--name', v, ...BASE, '--', 'true']);
    expect(verbose.err).toMatch(/^\+ cg create /m);
    expect(verbose.out).toMatch(/^[0-9a-f]{12}$/);
  });

  it('a reader of stderr that goes away (`2>&1 | head -1`) ends -v\'s lines, not the start: the container runs and --rm removes it', async () => {
    const n = name('headerr');
    made.push(n);
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    // the reader is gone before run writes its first step: every line to stderr meets EPIPE
    const p = spawn(process.execPath, [binPath('run'), '-v', '--rm', '--name', n, ...BASE, '--', 'sh', '-c', 'exit 3'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    p.stderr!.destroy();
    let out = '';
    p.stdout!.on('data', (d) => (out += d));
    const code = await new Promise<number | null>((resolve) => p.on('close', (c) => resolve(c)));
    // the command's own status, as without -v (was 1: run died at its second step, the container left behind)
    expect(code).toBe(3);
    expect(out).toBe('');
    expect(existsSync(stateFile(n))).toBe(false);
  });

  it('logs -f follows its container by id (as docker): once its name is another container\'s, it ends', async () => {
    const n = name('logsid');
    const other = name('logsid2');
    const moved = name('logsid-a');
    made.push(n, other, moved);
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'echo one; exec sleep 600']);
    await run(['-d', '--name', other, ...BASE, '--', 'sh', '-c', 'echo NEW; exec sleep 600']);
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const f = spawn(process.execPath, [binPath('run'), 'logs', '-f', n], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    f.stdout.on('data', (d) => (out += d));
    const ended = new Promise<number | null>((r) => f.once('exit', (c) => r(c)));
    await waitUntil('logs -f to print the first line', () => out.includes('one'), 30_000);
    expect(out).toBe('one\n');
    // the name taken by a new container at one stroke, as `rm -f NAME; run --name NAME` between two looks:
    // the followed one's record moves aside (to be removed after), the other's becomes NAME's
    giveName(n, other, moved);
    const code = await Promise.race([ended, wait(20_000).then(() => 'still following')]);
    if (code === 'still following') f.kill('SIGKILL');
    expect([code, out]).toEqual([0, 'one\n']);
  });

  it("ps removes an ended -d --rm container under the store's lock, and not once its name is another container's", async () => {
    const n = name('stale');
    const other = name('stale2');
    const moved = name('stale-a');
    made.push(n, other, moved);
    // an ended -d --rm container nobody removed: its keeper killed, then its PID 1
    await run(['-d', '--rm', '--name', n, ...BASE, '--', 'sleep', '600']);
    const g = rec(n);
    await endWithoutKeeper(g);
    const otherId = (await run(['-d', '--name', other, ...BASE, '--', 'sleep', '600'])).out.trim();
    // run's store lock held here: ps waits for it before it removes anything
    const code = await whileLocked(['ps', '-a', '-q'], async () => {
      expect(rec(n).id).toBe(g.id);
      // meanwhile the name becomes another container's (as a new run takes an ended --rm one's name)
      giveName(n, other, moved);
    });
    expect(code).toBe(0);
    await expectOnly(n, otherId);
  });

  it("rm -f removes under the store's lock, and not once its name is another container's", async () => {
    const n = name('rmlock');
    const other = name('rmlock2');
    const moved = name('rmlock-a');
    made.push(n, other, moved);
    await run(['-d', '--rm', '--name', n, ...BASE, '--', 'sleep', '600']);
    const g = rec(n);
    const otherId = (await run(['-d', '--name', other, ...BASE, '--', 'sleep', '600'])).out.trim();
    const code = await whileLocked(['rm', '-f', n], async () => {
      expect(running(g.pid)).toBe(true);
      // meanwhile the container ends and goes (as its keeper removes a --rm one), and a new
      // container takes its name
      await endWithoutKeeper(g);
      giveName(n, other, moved); // (the moved record is removed after the test, as its keeper would have)
    });
    expect(code).toBe(0);
    await expectOnly(n, otherId);
  });
});
