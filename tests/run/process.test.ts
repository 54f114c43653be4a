import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { binPath, bk, opens, pin, running, signalPinned, skipReason, waitUntil } from '../harness/index.js';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE, expectRemovalWaitStopped, holdLock, name, ownDirs, run, startUntilTold } from './helpers.js';

function startRun(args: string[]) {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const p = spawn(process.execPath, [binPath('run'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  p.stdout.on('data', (d) => (out += d));
  const exit = new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
  return { p, exit, out: () => out };
}

/** Remove what a test's own bridge left in `env`'s dirs: its container `n` (if any), the NAT of `net`, the bridge `br`. */
async function dropBridge(env: NodeJS.ProcessEnv, br: string, net: string, n?: string) {
  if (n) await bk('run', ['rm', '-f', n], { env });
  await bk('netsetup', ['nat', 'rm', net], { env });
  await bk('netsetup', ['bridge', 'rm', br], { env });
}

/**
 * The container of the lock-wait tests: it ends when its stdin gets a line (`run -i`), which the test sends once it
 * holds the lock, so run's teardown always meets the lock held (a `sleep 0.5` could end first on a loaded machine).
 */
const UNTIL_TOLD = ['-i', '--', 'sh', '-c', 'read x'];

/** `run ARGS` in `env`'s dirs, its stderr kept: resolves once its container (record `record`) runs, with `lock` then held by a flock(1) and the container told to end. */
async function runHoldingLock(env: NodeJS.ProcessEnv, args: string[], record: string, lock: string) {
  const r = await startUntilTold(env, args, record);
  const holder = await holdLock(lock);
  r.p.stdin!.end('\n');
  return { ...r, holder };
}

describe.skipIf(skipReason)(`run: the container process${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('--init: an init is PID 1 and the command PID 2; --user, --env, --workdir apply', async () => {
    const r = await run(['--rm', ...BASE, '--init', '-u', 'nobody', '-e', 'GREETING=hi', '-w', '/tmp', '--', 'sh', '-c',
      'echo $$; cat /proc/1/comm; id -u; echo $GREETING; pwd']);
    expect(r.out.split('\n')).toEqual(['2', 'boxkit-init', '65534', 'hi', '/tmp']);
  });

  it('SIGTERM to a foreground run reaches PID 1; a PID 1 that ignores it is killed after --stop-timeout (137)', async () => {
    const t = startRun(['--rm', ...BASE, '--stop-timeout', '1', '--', 'sh', '-c', 'echo ready; exec sleep 100']);
    await waitUntil("the container's 'ready'", () => t.out().includes('ready'), 30_000);
    const t0 = Date.now();
    t.p.kill('SIGTERM');
    expect(await t.exit).toBe(137);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThan(800);
    expect(took).toBeLessThan(6000);
  });

  it('with --init the signal is forwarded to the command, which dies of it (143)', async () => {
    const t = startRun(['--rm', ...BASE, '--init', '--', 'sh', '-c', 'echo ready; exec sleep 100']);
    await waitUntil("the container's 'ready'", () => t.out().includes('ready'), 30_000);
    t.p.kill('SIGTERM');
    expect(await t.exit).toBe(143);
  });

  it('a SIGTERM the moment the container prints still reaches it: run never dies half-way (20 times)', async () => {
    for (let i = 0; i < 20; i++) {
      const t = startRun(['--rm', ...BASE, '--init', '--', 'sh', '-c', 'echo ready; exec sleep 100']);
      await new Promise<void>((r) => t.p.stdout.on('data', (d) => String(d).includes('ready') && r()));
      t.p.kill('SIGTERM');
      expect(await t.exit, `run ${i}`).toBe(143);
    }
    expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
  });

  it('limits out of range are refused before anything is made; --cpu-period alone applies', async () => {
    // docker: "Range of CPUs is from 0.01"; 0.001 was raised to 0.01 without a word
    const c = await run(['--rm', ...BASE, '--cpus', '0.001', '--', 'true'], 125);
    expect(c.err).toMatch(/^run: invalid cpus '0\.001': a quota of 100 µs is below the kernel's 1000 µs minimum/);
    const p = await run(['--rm', ...BASE, '--pids', '99999999999', '--', 'true'], 125);
    expect(p.err).toMatch(/^run: invalid --pids '99999999999'/);
    // a memory limit of 0 is not docker's "no limit" to the kernel: every process would be OOM-killed
    const m = await run(['--rm', ...BASE, '--memory', '0', '--', 'true'], 125);
    expect(m.err.split('\n')).toEqual([expect.stringMatching(/^run: invalid memory limit '0': the kernel takes 0 literally/), "hint: for no limit use 'max' (or -1)"]);
    await run(['--rm', ...BASE, '--memory', 'max', '--', 'true']);
    // docker's bounds: at least 6M (under it the container died, 137, before its command), no more CPUs than there are
    expect((await run(['--rm', ...BASE, '--memory', '100k', '--', 'true'], 125)).err).toMatch(/^run: --memory 100k: below the minimum of 6M/);
    expect((await run(['--rm', ...BASE, '--cpus', String(availableParallelism() + 1), '--', 'true'], 125)).err).toMatch(/^run: --cpus \d+: only \d+ CPUs? (is|are) available/);
    expect((await run(['ps', '-a', '-q'])).out.trim()).toBe('');
    const n = name('period');
    await run(['-d', '--name', n, ...BASE, '--cpu-period', '50000', '--memory', '32M', '--pids', '20', '--', 'sleep', '600']);
    try {
      const rec = JSON.parse((await run(['inspect', n])).out)[0];
      const dir = rec.cgroup.paths.cpu as string;
      const file = existsSync(join(dir, 'cpu.cfs_period_us')) ? 'cpu.cfs_period_us' : 'cpu.max';
      expect(readFileSync(join(dir, file), 'utf8')).toMatch(/50000/);
      // inspect shows the limits it was given
      expect(rec.limits).toEqual({ cpuPeriod: 50000, memory: 33554432, pids: 20 });
    } finally {
      await run(['rm', '-f', n]);
    }
  });

  it("stdin reaches the container only with -i (as docker run): without it a loop's input is not eaten", async () => {
    const { bk } = await import('../harness/index.js');
    const without = await bk('run', ['--rm', ...BASE, '--', 'sh', '-c', 'read x; echo "got [$x]"'], { input: 'secret\n' });
    expect(String(without.stdout)).toBe('got []');
    const withI = await bk('run', ['--rm', ...BASE, '-i', '--', 'sh', '-c', 'read x; echo "got [$x]"'], { input: 'line\n' });
    expect(String(withI.stdout)).toBe('got [line]');
  });

  it('a Ctrl-C (SIGINT) or SIGTERM during a slow start stops it: 130/143, the command never runs, nothing is left', async () => {
    // the slow step: the store's lock, held here (as a concurrent run or gc holds it); the signal
    // came while run waited for it, and was passed on to PID 1 once it ran: `sh -c 'echo ran'`
    // (no handler: PID 1 ignores SIGINT) ran, and run exited 0
    const lock = join(process.env.BOXKIT_STATE_DIR!, 'run', 'lock');
    const containers = join(process.env.BOXKIT_DATA_DIR!, 'containers');
    const dirs = () => (existsSync(containers) ? readdirSync(containers).sort() : []);
    for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
      const n = name(`stopped-${sig.toLowerCase()}`);
      const before = dirs();
      const holder = await holdLock(lock);
      const t = startRun(['--rm', ...BASE, '--name', n, '--', 'sh', '-c', 'echo ran']);
      let err = '';
      t.p.stderr.on('data', (d) => (err += d));
      try {
        // run waits for the lock (a blocked flock of its pid in /proc/locks)
        await waitUntil('run to wait for the lock', () => readFileSync('/proc/locks', 'utf8').split('\n').some((l) => l.includes('->') && l.split(/\s+/).includes(String(t.p.pid))), 30_000);
        t.p.kill(sig);
        await new Promise((r) => setTimeout(r, 200));
      } finally {
        holder.stdin.end();
      }
      expect(await t.exit, err).toBe(code);
      expect(t.out()).toBe('');
      expect(err).toMatch(new RegExp(`^run: stopped by ${sig} before the command started`));
      expect((await run(['ps', '-a', '--json'])).out).not.toContain(n);
      expect(dirs()).toEqual(before);
    }
  });

  it('a Ctrl-C (SIGINT) or SIGTERM during the teardown after a --rm container ended waits for it: 130/143 and nothing left (run died half-way, leaving its record, mount and data)', async () => {
    // the slow step: netsetup's lock, held here while the veth is given back; a state, data dir and bridge of this test's own
    const { own, env } = ownDirs('late-');
    const br = `bklate${process.pid % 10000}`;
    const lock = join(env.BOXKIT_STATE_DIR, 'netsetup', 'store.lock');
    const containers = join(env.BOXKIT_DATA_DIR, 'containers');
    try {
      for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
        const n = name(`late-${sig.toLowerCase()}`);
        const p = spawn(process.execPath, [binPath('run'), '--rm', ...BASE, '--name', n, '--net', `bridge:${br}`, '--ip', '10.97.0.2/24', ...UNTIL_TOLD], { env, stdio: ['pipe', 'ignore', 'pipe'] });
        let err = '';
        p.stderr.on('data', (d) => (err += d));
        const exit = new Promise<number | null>((r) => p.once('exit', (c, s) => r(c ?? (s ? -1 : null))));
        const record = join(env.BOXKIT_STATE_DIR, 'run', 'containers', `${n}.json`);
        const pid1 = () => (existsSync(record) ? (JSON.parse(readFileSync(record, 'utf8')) as { pid?: number; status: string }) : undefined);
        await waitUntil('the container to run', () => pid1()?.status === 'running', 30_000);
        const holder = await holdLock(lock);
        p.stdin.end('\n');
        try {
          // its PID 1 ends, and run's teardown waits for the lock: tried again and again (no blocked flock in
          // /proc/locks), on a file run holds open only while it waits for it or holds it (and flock(1) holds it)
          const pid = pid1()!.pid!;
          await waitUntil('the container to end', () => !running(pid), 30_000);
          await waitUntil('run to wait for the lock (its file open)', () => opens(p.pid!, lock), 30_000);
          // (nothing given back yet: its address is still leased; under 1 s, nothing said)
          expect(readdirSync(join(env.BOXKIT_STATE_DIR, 'netsetup', 'leases'))).toContain('10.97.0.2');
          expect(err).toBe('');
          p.kill(sig);
          await new Promise((r) => setTimeout(r, 200));
        } finally {
          holder.stdin.end();
        }
        expect(await exit, err).toBe(code);
        expect(existsSync(record)).toBe(false);
        expect(existsSync(containers) ? readdirSync(containers) : []).toEqual([]);
        expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(own);
      }
    } finally {
      await dropBridge(env, br, '10.97.0.0/24');
    }
  });

  it('a teardown that waits over 1 s for a lock another process holds says so, and a Ctrl-C then stops the wait: 130, what is left named with the rm that removes it (no word, and no Ctrl-C could end it)', async () => {
    // netsetup's lock, held by a flock(1) here while the --rm container's veth is given back; a state, data dir and bridge of this test's own
    const { own, env } = ownDirs('wait-');
    const br = `bkwait${process.pid % 10000}`;
    const lock = join(env.BOXKIT_STATE_DIR, 'netsetup', 'store.lock');
    const containers = join(env.BOXKIT_DATA_DIR, 'containers');
    const n = name('lockwait');
    const record = join(env.BOXKIT_STATE_DIR, 'run', 'containers', `${n}.json`);
    let holder: Awaited<ReturnType<typeof holdLock>> | undefined;
    try {
      const r = await runHoldingLock(env, ['--rm', ...BASE, '--name', n, '--net', `bridge:${br}`, '--ip', '10.97.1.2/24'], record, lock);
      const { holder: h } = r;
      holder = h;
      // its PID 1 ends; past 1 s of waiting, run names the lock and its holder (flock(1), whose sh holds the lock too)
      await expectRemovalWaitStopped(r, n, lock, h.pid!);
      // nothing half-made: the record stays, and with it netsetup's attachment (its address still leased); the rest went
      expect(existsSync(record)).toBe(true);
      expect(readdirSync(join(env.BOXKIT_STATE_DIR, 'netsetup', 'leases'))).toContain('10.97.1.2');
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(own);
      // once the lock is free, the rm it names removes what is left
      h.stdin!.end();
      await new Promise((r) => h.once('exit', r));
      const rm = await bk('run', ['rm', '-f', n], { env });
      expect(rm.exitCode, String(rm.stderr)).toBe(0);
      expect(existsSync(record)).toBe(false);
      expect(readdirSync(join(env.BOXKIT_STATE_DIR, 'netsetup', 'leases'))).not.toContain('10.97.1.2');
      expect(existsSync(containers) ? readdirSync(containers) : []).toEqual([]);
    } finally {
      holder?.stdin!.end();
      await dropBridge(env, br, '10.97.1.0/24', n);
    }
  });

  it('without --rm, a wait over 1 s to record the end is said, and a Ctrl-C then stops it: 130, and run ps records the end once the lock is free', async () => {
    // run's own store lock, held by a flock(1) here when the container's end is to be recorded
    const lock = join(process.env.BOXKIT_STATE_DIR!, 'run', 'lock');
    const n = name('lockwait-kept');
    const record = join(process.env.BOXKIT_STATE_DIR!, 'run', 'containers', `${n}.json`);
    let holder: Awaited<ReturnType<typeof holdLock>> | undefined;
    try {
      const env = { ...process.env };
      delete env.NODE_EXTRA_CA_CERTS;
      const p = spawn(process.execPath, [binPath('run'), ...BASE, '--name', n, ...UNTIL_TOLD], { env, stdio: ['pipe', 'ignore', 'pipe'] });
      const t0 = { p, exit: new Promise<number | null>((r) => p.once('exit', (c) => r(c))) };
      let err = '';
      t0.p.stderr!.on('data', (d) => (err += d));
      await waitUntil('the container to run', () => existsSync(record) && JSON.parse(readFileSync(record, 'utf8')).status === 'running', 30_000);
      const h = await holdLock(lock);
      holder = h;
      t0.p.stdin!.end('\n');
      await waitUntil('run to say what it waits for', () => err.includes('\n'), 30_000);
      expect(err).toBe(`run: ${n} has ended; recording its end waits for ${lock}, held by pid ${h.pid} (flock): Ctrl-C stops waiting\n`);
      t0.p.kill('SIGINT');
      expect(await t0.exit, err).toBe(130);
      expect(err.split('\n').slice(1)).toEqual([`run: SIGINT stopped the wait for ${lock}, held by pid ${h.pid} (flock)`, 'hint: run ps records its end once that lock is free', '']);
      expect(JSON.parse(readFileSync(record, 'utf8')).status).toBe('running');
      h.stdin!.end();
      await new Promise((r) => h.once('exit', r));
      const ps = JSON.parse((await run(['ps', '-a', '--json'])).out) as { name: string; status: string; exitCode?: number }[];
      expect(ps.find((c) => c.name === n)?.status).toBe('exited');
    } finally {
      holder?.stdin!.end();
      await run(['rm', '-f', n], null);
    }
  });

  it('without --rm on a bridge, a Ctrl-C that stops the wait to release its address and ports names them kept and the rm that releases them: 130 (said nothing of them)', async () => {
    // netsetup's lock, held by a flock(1) here while the kept container's veth is given back; a state, data dir and bridge of this test's own
    const { env } = ownDirs('kept-');
    const br = `bkkept${process.pid % 10000}`;
    const lock = join(env.BOXKIT_STATE_DIR, 'netsetup', 'store.lock');
    const leases = join(env.BOXKIT_STATE_DIR, 'netsetup', 'leases');
    const n = name('lockwait-kept-net');
    const record = join(env.BOXKIT_STATE_DIR, 'run', 'containers', `${n}.json`);
    let holder: Awaited<ReturnType<typeof holdLock>> | undefined;
    try {
      const r = await runHoldingLock(env, [...BASE, '--name', n, '--net', `bridge:${br}`, '--ip', '10.97.2.2/24'], record, lock);
      const { p, exit, holder: h } = r;
      holder = h;
      await waitUntil('run to say what it waits for', () => r.err().includes('\n'), 30_000);
      expect(r.err()).toBe(`run: ${n} has ended; the release of its address and ports waits for ${lock}, held by pid ${h.pid} (flock): Ctrl-C stops waiting (then run rm ${n} releases them)\n`);
      p.kill('SIGINT');
      expect(await exit, r.err()).toBe(130);
      expect(r.err().split('\n').slice(1)).toEqual([
        `run: warning: ${n}: its address and ports are kept: SIGINT stopped the wait for ${lock}, held by pid ${h.pid} (flock)`,
        `hint: run rm ${n} releases them once that lock is free`,
        '',
      ]);
      // its end is recorded; its address is still leased, its veth still recorded (the rm named releases them)
      const rec = JSON.parse(readFileSync(record, 'utf8')) as { status: string; net: { hostVeth?: string } };
      expect(rec.status).toBe('exited');
      expect(rec.net.hostVeth).toBeTruthy();
      expect(readdirSync(leases)).toContain('10.97.2.2');
      h.stdin!.end();
      await new Promise((r) => h.once('exit', r));
      const rm = await bk('run', ['rm', n], { env });
      expect(rm.exitCode, String(rm.stderr)).toBe(0);
      expect(existsSync(record)).toBe(false);
      expect(readdirSync(leases)).not.toContain('10.97.2.2');
    } finally {
      holder?.stdin!.end();
      await dropBridge(env, br, '10.97.2.0/24', n);
    }
  });

  it("a SIGINT while a foreground container ran never SIGKILLs, at the stop timeout, a later process given the container's pid during run's teardown (the timer stayed armed)", async () => {
    // in a pid namespace of its own, where the next pid can be set: a SIGINT while PID 1 (a sleep, which
    // ignores it) runs arms the 1 s stop timeout; netsetup's lock, held here, keeps run in its teardown
    // past it, while a `sleep 30` is given the reaped container's pid
    const own = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT!, 'reuse-'));
    const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_STATE_DIR: join(own, 'state'), BOXKIT_DATA_DIR: join(own, 'data'), NODE_EXTRA_CA_CERTS: '' };
    const br = `bkreuse${process.pid % 10000}`;
    const script = String.raw`
      run="$0"; n="$1"; br="$2"; rec="$BOXKIT_STATE_DIR/run/containers/$n.json"
      "$run" --rm --cgroup-parent self --stop-timeout 1 --name "$n" --net "bridge:$br" --ip 10.96.0.2/24 -- sleep 0.6 & R=$!
      until grep -q '"running"' "$rec" 2>/dev/null; do sleep 0.02; done
      P=$(grep -o '"pid": *[0-9]*' "$rec" | head -1 | grep -o '[0-9]*$')
      exec 9>"$BOXKIT_STATE_DIR/netsetup/store.lock"; flock 9
      kill -INT "$R"
      while [ -e "/proc/$P" ]; do sleep 0.02; done
      for try in 1 2 3 4 5 6 7 8; do
        echo $((P - 1)) > /proc/sys/kernel/ns_last_pid
        sleep 30 9>&- & S=$!
        [ "$S" = "$P" ] && break
        kill "$S"
      done
      [ "$S" = "$P" ] || { echo "pid $P not used again (got $S)"; exec 9>&-; wait "$R"; exit 0; }
      sleep 1.5
      exec 9>&-
      wait "$R"; rc=$?
      if kill -0 "$S" 2>/dev/null; then echo "alive $rc"; kill "$S"; else echo "killed $rc"; fi
      [ -e "$rec" ] && echo "record left"
      exit 0
    `;
    try {
      const r = execFileSync('unshare', ['--pid', '--fork', '--mount-proc', 'bash', '-c', script, binPath('run'), name('pid-reuse'), br], { encoding: 'utf8', env, timeout: 60_000 });
      expect(r.trim()).toBe('alive 0');
    } finally {
      await dropBridge(env, br, '10.96.0.0/24');
    }
  });

  it("a detached container's keeper (bk-keeper) ignores SIGINT and SIGHUP (only run -d passes them on, to a start it has not seen end) and still records the end", async () => {
    const n = name('keeper-int');
    await run(['-d', ...BASE, '--name', n, '--', 'sleep', '100']);
    const keeperPid = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).find((d) => {
      try {
        return readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0')[0] === `run keeper ${n}`;
      } catch {
        return false;
      }
    });
    await waitUntil(`${n}'s keeper`, () => keeperPid() !== undefined && readFileSync(`/proc/${keeperPid()}/comm`, 'utf8').startsWith('run keeper'), 10_000);
    const pid = Number(keeperPid());
    const keeper = pin(pid);
    signalPinned(keeper, 'SIGINT');
    signalPinned(keeper, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 200));
    expect(keeperPid()).toBe(String(pid));
    await run(['stop', '--time', '0', n]);
    await waitUntil(`${n} recorded as ended`, async () => JSON.parse((await run(['inspect', n])).out)[0].status === 'exited', 10_000);
    expect(JSON.parse((await run(['inspect', n])).out)[0].exitCode).toBe(137);
    await run(['rm', n]);
  });

  it('a Ctrl-C of run -d at any moment of a quick start: 130 and nothing left, or (came after the release) its id and a running container; never 125', async () => {
    // (the bin as users start it: its snapshot, so these moments are the real start's)
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const codes: (number | null)[] = [];
    for (const ms of [5, 15, 25, 35, 45, 55, 70, 90]) {
      const n = name(`early-${ms}`);
      const p = spawn(binPath('run'), ['-d', ...BASE, '--name', n, '--', 'sleep', '100'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (d) => (out += d));
      p.stderr.on('data', (d) => (err += d));
      setTimeout(() => p.kill('SIGINT'), ms);
      const code = await new Promise<number | null>((r) => p.once('exit', (c) => r(c)));
      codes.push(code);
      const mine = async () => (JSON.parse((await run(['ps', '-a', '--json'])).out) as { name: string; status: string }[]).filter((r) => r.name === n);
      if (code === 0) {
        expect(out.trim(), err).toMatch(/^[0-9a-f]{12}$/);
        expect((await mine()).map((r) => r.status)).toEqual(['running']);
        await run(['rm', '-f', n]);
        continue;
      }
      // killed by it before a keeper was started (null), or stopped, undone (130)
      if (code !== null) expect([code, err], `SIGINT at ${ms} ms`).toEqual([130, expect.stringMatching(/^run: stopped by SIGINT before the command started/)]);
      await waitUntil(`no container named ${n}`, async () => (await mine()).length === 0, 10_000);
    }
    expect(codes).not.toContain(125);
  });

  it('a Ctrl-C of run -d during the start stops it in the keeper too: 130, no container left running', async () => {
    // the keeper is in a session of its own: run -d died of the SIGINT (the shell saw 130) and
    // the keeper went on to start the container
    const lock = join(process.env.BOXKIT_STATE_DIR!, 'run', 'lock');
    const containers = join(process.env.BOXKIT_DATA_DIR!, 'containers');
    const dirs = () => (existsSync(containers) ? readdirSync(containers).sort() : []);
    const n = name('stopped-detached');
    const before = dirs();
    const holder = await holdLock(lock);
    const t = startRun(['-d', ...BASE, '--name', n, '--', 'sleep', '100']);
    let err = '';
    t.p.stderr.on('data', (d) => (err += d));
    try {
      // the keeper waits for the lock (the one blocked flock in /proc/locks)
      await waitUntil('the keeper to wait for the lock', () => readFileSync('/proc/locks', 'utf8').includes('->'), 30_000);
      t.p.kill('SIGINT');
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      holder.stdin.end();
    }
    expect(await t.exit, err).toBe(130);
    expect(t.out()).toBe('');
    expect(err).toMatch(/^run: stopped by SIGINT before the command started/);
    // the keeper ends once it has undone the start; nothing of the container is there then
    await waitUntil('no container named ' + n, async () => !(await run(['ps', '-a', '--json'])).out.includes(n), 10_000);
    expect(dirs()).toEqual(before);
  });
});
