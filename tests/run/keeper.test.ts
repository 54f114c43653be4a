/**
 * The keeper of a `run -d` container (see packages/run/src/container/keeper.ts)
 * as its caller sees it: it lives as long as the container, so it must hold
 * nothing of the caller's, and `run -d`'s answer must say what is true even
 * when the keeper is killed before it reports. Once it has reported it is
 * native's bk-keeper (C) in the same process, which waits for the container.
 */
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { binPath, bk, poll, running, signalPinned, skipReason, startTime, straceBin, waitUntil } from '../harness/index.js';
import { execa } from 'execa';
import { BASE, containerEnded, keeperOf, name, pid1Of, run } from './helpers.js';

const made: string[] = [];
const stateFile = (n: string) => `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`;
const record = (n: string) => JSON.parse(readFileSync(stateFile(n), 'utf8'));
/** bk-keeper's exit file beside the record (`ID STATUS`), before it starts run again. */
const exitFile = (n: string) => `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.exit`;

/** The fds of `pid` that an exec would keep (no O_CLOEXEC in /proc/PID/fdinfo), with what they are. */
function keptOpen(pid: number): string[] {
  return readdirSync(`/proc/${pid}/fdinfo`).filter((fd) => {
    const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))![1]!;
    return (parseInt(flags, 8) & 0o2000000) === 0;
  }).map((fd) => `${fd} -> ${readlinkSync(`/proc/${pid}/fd/${fd}`)}`);
}

describe.skipIf(skipReason)(`run -d's keeper${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    for (const n of made) await run(['rm', '-f', n], null);
    // the default bridge and its NAT, made by the --net bridge runs here (as lifecycle.test.ts)
    const ns = await import('@boxkit/netsetup');
    await ns.removeNat('10.88.0.0/16').catch(() => {});
    await ns.removeBridge('boxkit0').catch(() => {});
  });

  it("holds none of its caller's open files: x=$(run -d ...) returns at once even when the shell passes the pipe on as fd 30", async () => {
    const n = name('fds');
    made.push(n);
    // a pipe the caller reads to its end, passed on to run -d as a shell (or make's jobserver, or a
    // CI runner) passes its fds on: command substitution returns only when every writer closed it
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    const script = `x=$(${binPath('run')} -d --name ${n} ${BASE.join(' ')} -- sleep 600 30>&1); echo "$x"`;
    const sh = spawn('bash', ['-c', script], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    sh.stdout.on('data', (d) => (out += d));
    const timer = setTimeout(() => sh.kill('SIGKILL'), 30_000);
    const code = await new Promise<number | null>((r) => sh.on('exit', (c) => r(c)));
    clearTimeout(timer);
    expect(code).toBe(0);
    expect(out.trim()).toMatch(/^[0-9a-f]{12}$/);
    const rec = record(n);
    expect(rec.status).toBe('running');
    // the keeper keeps its own stdio (/dev/null, run -d's socket) and Node's fds (all close-on-exec)
    const held = keptOpen(rec.creatorPid).filter((l) => !/^[0-2] -> /.test(l));
    expect(held).toEqual([]);
  }, 60_000);

  it("killed before it reports, the keeper leaves run -d's answer true: 0 and the id for a container that runs, 125 for one that did not start, and then nothing of it", async () => {
    const seen: string[] = [];
    // killed at the first sight of its record ('creating': mid-setup, the network's setup makes
    // that long) or of 'running' (started, its report not yet written): both, twice
    for (const [i, at] of [[1, 'creating'], [2, 'running'], [3, 'creating'], [4, 'running']] as const) {
      const n = name(`lost${i}`);
      made.push(n);
      const started = bk('run', ['-d', '--name', n, ...BASE, ...(at === 'creating' ? ['--net', 'bridge'] : []), '--', 'sleep', '600']);
      // a tight look (no timers): the window between 'running' and the report is a few ms
      let rec: { id: string; status: string; creatorPid: number; creatorStart?: number; cgroup?: { dirs: { path: string }[] } } | undefined;
      for (const end = Date.now() + 20_000; Date.now() < end;) {
        try {
          rec = JSON.parse(readFileSync(stateFile(n), 'utf8'));
        } catch {
          continue;
        }
        if (at === 'creating' || rec!.status !== 'creating') break;
      }
      expect(rec, `${n}'s record`).toBeDefined();
      signalPinned(keeperOf(rec!));
      const r = await started;
      seen.push(`${rec!.status}: ${r.exitCode}`);
      if (r.exitCode === 0) {
        // it started: run -d says so, and ps, stop and rm see it
        expect(String(r.stdout).trim()).toBe(rec!.id);
        expect(record(n)).toMatchObject({ id: rec!.id, status: 'running' });
        continue;
      }
      expect([r.exitCode, String(r.stderr)]).toEqual([125, expect.stringMatching(/^run: /)]);
      // it did not: nothing half-made stays (no gc needed)
      expect(existsSync(stateFile(n))).toBe(false);
      expect(existsSync(`${process.env.BOXKIT_DATA_DIR}/containers/${rec!.id}`)).toBe(false);
      for (const d of rec!.cgroup?.dirs ?? []) expect(existsSync(d.path), d.path).toBe(false);
    }
    console.log(`keeper killed at (status seen: run -d's exit code): ${seen.join(', ')}`);
  }, 120_000);

  it("once the container runs, its keeper is bk-keeper in the same process: the container's parent, 'run keeper NAME' in ps, /dev/null only, default signals but SIGINT and SIGHUP ignored, its caller's cgroup and no_new_privs, well under a Node's memory", async () => {
    const n = name('waiter');
    made.push(n);
    // every Node start of this run -d and what it starts (the keeper, a finish: bk-keeper passes
    // the environment on) logs its pid and arguments: a finish started is seen however short
    const marks = mkdtempSync(join(tmpdir(), 'bk-starts-'));
    onTestFinished(() => rmSync(marks, { recursive: true, force: true }));
    writeFileSync(join(marks, 'mark.cjs'), `require('fs').appendFileSync(${JSON.stringify(join(marks, 'starts'))}, process.pid + ' ' + process.argv.slice(2).join(' ') + '\\n');\n`);
    const started = await bk('run', ['-d', '--name', n, ...BASE, '--', 'sleep', '600'], { env: { NODE_OPTIONS: `--require ${join(marks, 'mark.cjs')}` } });
    expect(started.exitCode, String(started.stderr)).toBe(0);
    // run -d returns once the keeper has exec'd (the exec closes its report pipe)
    const rec = record(n);
    const k = rec.creatorPid as number;
    expect(readlinkSync(`/proc/${k}/exe`)).toMatch(/\/native\/dist\/bk-keeper$/);
    // the record's creator identity (pid and start time) still names it; the container is its child
    expect(startTime(k)).toBe(rec.creatorStart);
    expect(readFileSync(`/proc/${rec.pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]).toBe(String(k));
    // bk-keeper sets its title (comm last) just after the exec that let run -d return: wait for it
    await waitUntil(`${n}'s keeper to retitle itself`, () => readFileSync(`/proc/${k}/comm`, 'utf8').trim() === `run keeper ${n}`.slice(0, 15), 10_000);
    expect(readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0').filter(Boolean)).toEqual([`run keeper ${n}`]);
    expect(readdirSync(`/proc/${k}/fd`).map((fd) => `${fd} -> ${readlinkSync(`/proc/${k}/fd/${fd}`)}`)).toEqual(['0 -> /dev/null', '1 -> /dev/null', '2 -> /dev/null']);
    const status = (pid: number | 'self', key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1];
    // (SIGHUP and SIGINT, bits 0 and 1: only run -d passes them on, see native/c/keeper.c)
    expect([status(k, 'SigBlk'), status(k, 'SigIgn')]).toEqual(['0000000000000000', '0000000000000003']);
    expect(status(k, 'NoNewPrivs')).toBe(status('self', 'NoNewPrivs'));
    expect(readFileSync(`/proc/${k}/cgroup`, 'utf8')).toBe(readFileSync('/proc/self/cgroup', 'utf8'));
    // its memory: the static program's text (shared by all keepers) and a few pages of its own
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s*(\\d+) kB`, 'm').exec(readFileSync(`/proc/${k}/smaps_rollup`, 'utf8'))![1]);
    console.log(`bk-keeper memory: Pss ${kb('Pss')} kB, Private_Clean ${kb('Private_Clean')} kB, Private_Dirty ${kb('Private_Dirty')} kB`);
    expect(kb('Private_Dirty')).toBeLessThan(512);
    expect(kb('Pss')).toBeLessThan(2048);
    // rm -f ends the container, under the store's lock, and removes its record before it lets go:
    // the keeper, waiting for that lock, finds the record gone and ends without a Node start
    await run(['rm', '-f', n]);
    await waitUntil(`${n}'s keeper (pid ${k}) to end`, () => !(running(k) && startTime(k) === rec.creatorStart), 30_000);
    // Node started as the keeper, never again in its process (no finish)
    const starts = readFileSync(join(marks, 'starts'), 'utf8').split('\n').filter((l) => l.startsWith(`${k} `));
    expect(starts).toEqual([`${k} `]);
    expect(existsSync(exitFile(n))).toBe(false);
  }, 60_000);

  it('a -d container that ends at once has its status recorded by bk-keeper, and a -d --rm one is removed', async () => {
    const ns: string[] = [];
    for (let i = 0; i < 6; i++) {
      const n = name(`quick${i}`);
      made.push(n);
      ns.push(n);
      await run(['-d', '--name', n, ...BASE, ...(i % 3 === 2 ? ['--rm'] : []), '--', 'sh', '-c', `exit ${40 + i}`]);
    }
    const ended = (n: string, i: number) => (i % 3 === 2 ? !existsSync(stateFile(n)) : record(n).status === 'exited');
    await waitUntil('every quick container to be recorded ended', () => ns.every(ended), 30_000);
    expect(ns.filter((_, i) => i % 3 !== 2).map((n) => record(n).exitCode)).toEqual([40, 41, 43, 44]);
    // the exit files bk-keeper wrote went with the record (--rm) or once the record held the status
    for (const n of ns) await containerEnded(n);
    expect(ns.filter((n) => existsSync(exitFile(n)))).toEqual([]);
    // a bk-keeper killed between writing its exit file aside and renaming it left NAME.exit.PID.tmp: rm takes it too
    const aside = `${exitFile(ns[0]!)}.${spawnSync('true').pid}.tmp`;
    writeFileSync(aside, 'feedfacecafe 0\n');
    await run(['rm', ns[0]!]);
    expect(existsSync(aside)).toBe(false);
  }, 60_000);

  it('a container killed at the first sight of its record running, its keeper held still until it is a zombie, has its status recorded by bk-keeper: 137 (the zombie-before-exec case, seen to happen)', async () => {
    const marks = mkdtempSync(join(tmpdir(), 'bk-starts-'));
    onTestFinished(() => rmSync(marks, { recursive: true, force: true }));
    const starts = join(marks, 'starts');
    // every Node start logs its pid and arguments (see the bk-keeper test above): a finish shows what bk-keeper passed it
    writeFileSync(join(marks, 'mark.cjs'), `require('fs').appendFileSync(${JSON.stringify(starts)}, process.pid + ' ' + process.argv.slice(2).join(' ') + '\\n');\n`);
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const n = name(`zombie${i}`);
      made.push(n);
      const started = bk('run', ['-d', '--name', n, ...BASE, '--', 'sleep', '600'], { env: { NODE_OPTIONS: `--require ${join(marks, 'mark.cjs')}` } });
      // a tight look (no timers): between 'running' and the keeper's exec are a few ms
      let rec: { id: string; status: string; pid: number; pidStart?: number; creatorPid: number; creatorStart?: number } | undefined;
      for (const end = Date.now() + 20_000; Date.now() < end;) {
        try {
          rec = JSON.parse(readFileSync(stateFile(n), 'utf8'));
        } catch {
          continue;
        }
        if (rec!.status !== 'creating') break;
      }
      expect(rec?.status, `${n}'s record`).toBe('running');
      // the keeper held still while its container dies: a zombie (nobody reaps it) when the keeper goes on
      const k = rec!.creatorPid, keeper = keeperOf(rec!);
      signalPinned(keeper, 'SIGSTOP');
      let was = 'gone';
      try {
        was = readlinkSync(`/proc/${k}/exe`).endsWith('/bk-keeper') ? 'bk-keeper' : 'node';
      } catch {
        // ended meanwhile
      }
      signalPinned(pid1Of(rec!));
      await waitUntil(`${n}'s PID 1 to be a zombie`, () => /^\S+ \(.*\) Z /.test(readFileSync(`/proc/${rec!.pid}/stat`, 'utf8')), 10_000);
      signalPinned(keeper, 'SIGCONT');
      const r = await started;
      seen.push(`${was}: ${r.exitCode}`);
      if (r.exitCode === 0) {
        expect(String(r.stdout).trim()).toBe(rec!.id);
        expect((await poll(() => record(n), (x) => x.status === 'exited', 30_000)).exitCode).toBe(137);
        // bk-keeper reaped it and passed its status on
        await containerEnded(n);
        // (and the fd of the finish lock it holds on)
        expect(readFileSync(starts, 'utf8').split('\n').filter((l) => l.startsWith(`${k} finish`))).toEqual([expect.stringMatching(new RegExp(`^${k} finish ${n} ${rec!.id} 137 \\d+$`))]);
      } else {
        // killed before its release: the start failed, and nothing of it stays
        expect(r.exitCode, String(r.stderr)).toBe(125);
        expect(existsSync(stateFile(n))).toBe(false);
      }
    }
    console.log(`keeper when held (its container then killed): run -d's exit code: ${seen.join(', ')}`);
    // the case this is about: the keeper still Node, its container a zombie when it went on to exec
    expect(seen).toContain('node: 0');
  }, 120_000);

  it('many containers ending at once make one finish at a time, and the first records the ends the others left: every status recorded, --rm ones removed, addresses given back, no keeper left', async () => {
    // every finish (a Node start by a bk-keeper) logs when it started and when it ended
    const marks = mkdtempSync(join(tmpdir(), 'bk-finishes-'));
    onTestFinished(() => rmSync(marks, { recursive: true, force: true }));
    const log = join(marks, 'finishes');
    writeFileSync(join(marks, 'mark.cjs'), `if (process.argv[2] === 'finish') {
  const fs = require('fs'), t = () => (performance.timeOrigin + performance.now()).toFixed(1);
  fs.appendFileSync(${JSON.stringify(log)}, 'start ' + process.pid + ' ' + t() + '\\n');
  process.on('exit', () => fs.appendFileSync(${JSON.stringify(log)}, 'end ' + process.pid + ' ' + t() + '\\n'));
}
`);
    const env = { NODE_OPTIONS: `--require ${join(marks, 'mark.cjs')}` };
    const ns: string[] = [];
    const removes = (i: number) => i % 4 === 3;
    for (let i = 0; i < 8; i++) {
      const n = name(`many${i}`);
      made.push(n);
      ns.push(n);
      const r = await bk('run', ['-d', '--name', n, ...BASE, ...(i < 2 ? ['--net', 'bridge'] : []), ...(removes(i) ? ['--rm'] : []), '--', 'sleep', '600'], { env });
      expect(r.exitCode, String(r.stderr)).toBe(0);
    }
    const recs = ns.map(record);
    for (const rec of recs.slice(0, 2)) expect(existsSync(`/sys/class/net/${rec.net.hostVeth}`)).toBe(true);
    // all at once, as a host shutting its containers down
    for (const rec of recs) signalPinned(pid1Of(rec));
    const ended = (n: string, i: number) => (removes(i) ? !existsSync(stateFile(n)) : record(n).status === 'exited');
    await waitUntil('every container to be recorded ended', () => ns.every(ended), 60_000);
    const keeperOf = (rec: { creatorPid: number; creatorStart: number }) => running(rec.creatorPid) && startTime(rec.creatorPid) === rec.creatorStart;
    await waitUntil('every keeper to end', () => !recs.some(keeperOf), 30_000);
    expect(ns.filter((_, i) => !removes(i)).map((n) => record(n).exitCode)).toEqual([137, 137, 137, 137, 137, 137]);
    // the two on the bridge gave their addresses and links back
    for (const [i, rec] of recs.slice(0, 2).entries()) {
      expect(existsSync(`/sys/class/net/${rec.net.hostVeth}`)).toBe(false);
      expect(record(ns[i]!).net.hostVeth).toBeUndefined();
    }
    expect(ns.filter((n) => existsSync(exitFile(n)))).toEqual([]);
    // the finishes, as [start, end]: never two at once, and far fewer than containers
    const at = new Map<string, number[]>();
    for (const l of readFileSync(log, 'utf8').trim().split('\n')) {
      const [what, pid, t] = l.split(' ');
      at.set(pid!, [...(at.get(pid!) ?? []), Number(t)]);
      expect(['start', 'end']).toContain(what);
    }
    const spans = [...at.values()].sort((a, b) => a[0]! - b[0]!);
    console.log(`finishes for 8 containers ending at once: ${spans.length} (${spans.map(([a, b]) => `${(b! - a!).toFixed(0)} ms`).join(', ')})`);
    for (const s of spans) expect(s).toHaveLength(2);
    for (let i = 1; i < spans.length; i++) expect(spans[i]![0]!, 'a finish started before the one before it ended').toBeGreaterThan(spans[i - 1]![1]!);
    expect(spans.length).toBeLessThanOrEqual(3);
  }, 120_000);

  it('a finish lock held too long (a finish stuck behind something outside boxkit) delays an end only as long as BOXKIT_KEEPER_FINISH_WAIT: then it is recorded without the lock', async () => {
    const lock = `${process.env.BOXKIT_STATE_DIR}/run/finish.lock`;
    const { flock, LOCK } = await import('@boxkit/native');
    const { closeSync, mkdirSync, openSync } = await import('node:fs');
    // the stuck finish: this process holds the lock for the whole test
    mkdirSync(join(lock, '..'), { recursive: true });
    const fd = openSync(lock, 'a', 0o600);
    onTestFinished(() => closeSync(fd));
    flock(fd, LOCK.EX, lock);
    const n = name('stuckfinish');
    made.push(n);
    const r = await bk('run', ['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'sleep 0.5; exit 5'], { env: { BOXKIT_KEEPER_FINISH_WAIT: '2' } });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const ended = () => record(n).status === 'exited';
    await new Promise((res) => setTimeout(res, 1500));
    expect(ended(), 'recorded while the wait was not over').toBe(false);
    await waitUntil(`${n}'s end to be recorded past the wait`, ended, 20_000);
    expect(record(n).exitCode).toBe(5);
  }, 60_000);

  it('without bk-keeper (not built), the Node keeper waits for the container itself and records its end as before', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-nokeeper-'));
    try {
      const dist = join(import.meta.dirname, '..', '..', 'native', 'dist');
      for (const f of ['libboxkit.so', 'bk-stage']) copyFileSync(join(dist, f), join(dir, f));
      const n = name('nodewait');
      made.push(n);
      const r = await bk('run', ['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'sleep 0.5; exit 9'], { env: { BOXKIT_NATIVE_LIB: join(dir, 'libboxkit.so') } });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const k = record(n).creatorPid as number;
      expect(readlinkSync(`/proc/${k}/exe`)).not.toMatch(/bk-keeper$/);
      expect((await poll(() => record(n), (x) => x.status === 'exited', 30_000)).exitCode).toBe(9);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("when run cannot be started again to record the end (its blob removed meanwhile), the status bk-keeper left on disk is recorded all the same: ps -a and inspect say exited (7)", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bk-noblob-'));
    try {
      // a copy of the run bin whose blob goes away while its container runs (a rebuild, an upgrade)
      const pkg = join(import.meta.dirname, '..', '..', 'packages', 'run');
      for (const d of ['bin', 'dist']) cpSync(join(pkg, d), join(dir, d), { recursive: true });
      const n = name('noblob');
      made.push(n);
      const env: NodeJS.ProcessEnv = { ...process.env, BOXKIT_NATIVE_LIB: join(import.meta.dirname, '..', '..', 'native', 'dist', 'libboxkit.so') };
      delete env.NODE_EXTRA_CA_CERTS;
      const r = await execa(join(dir, 'bin', 'run.cjs'), ['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'sleep 1; exit 7'], { reject: false, env });
      expect(r.exitCode, String(r.stderr)).toBe(0);
      const rec = record(n);
      expect(readlinkSync(`/proc/${rec.creatorPid}/exe`)).toMatch(/\/bk-keeper$/);
      renameSync(join(dir, 'dist', 'cli.blob'), join(dir, 'cli.blob.away'));
      await containerEnded(n);
      // its finish never ran: the record still says running, the exit file has the status
      expect(record(n)).toMatchObject({ status: 'running' });
      expect(record(n).exitCode).toBeUndefined();
      expect(readFileSync(exitFile(n), 'utf8')).toBe(`${rec.id} 7\n`);
      // inspect reads it before anything has recorded it (and records nothing itself)
      expect(JSON.parse((await run(['inspect', n])).out)[0]).toMatchObject({ status: 'exited', exitCode: 7 });
      expect(record(n).exitCode).toBeUndefined();
      const ps = JSON.parse((await run(['ps', '-a', '--json'])).out) as { name: string; status: string; exitCode: number | null }[];
      expect(ps.find((x) => x.name === n)).toMatchObject({ status: 'exited', exitCode: 7 });
      expect(JSON.parse((await run(['inspect', n])).out)[0]).toMatchObject({ status: 'exited', exitCode: 7 });
      expect((await run(['ps', '-a'])).out).toMatch(new RegExp(`^${n} .* exited \\(7\\)`, 'm'));
      // the record holds it now; rm leaves nothing of it
      expect(existsSync(exitFile(n))).toBe(false);
      await run(['rm', n]);
      expect(readdirSync(`${process.env.BOXKIT_STATE_DIR}/run/containers`).filter((f) => f.startsWith(`${n}.`))).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("run __boxkit-keeper finish of a running container records nothing, whatever status it is given: it stays running, its network held", async () => {
    const n = name('liar');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--net', 'bridge', '--', 'sleep', '600']);
    const rec = record(n);
    expect(rec.net.hostVeth).toBeTruthy();
    for (const status of ['0', '-']) await run(['__boxkit-keeper', 'finish', n, rec.id, status]);
    expect(record(n)).toMatchObject({ status: 'running', net: rec.net });
    expect(record(n).exitCode).toBeUndefined();
    expect(existsSync(`/sys/class/net/${rec.net.hostVeth}`)).toBe(true);
    expect(running(rec.pid)).toBe(true);
  }, 60_000);

  const strace = straceBin();
  it.skipIf(!strace)(`starts as the bin's stub starts run: with the glibc malloc tunables run -d got, which neither bk-keeper nor the container inherits${strace ? '' : ' (skipped: no strace)'}`, async () => {
    const n = name('tunables');
    made.push(n);
    const trace = join(mkdtempSync(join(tmpdir(), 'bk-tun-')), 'execve');
    onTestFinished(() => rmSync(join(trace, '..'), { recursive: true, force: true }));
    const env = { ...process.env };
    delete env.NODE_EXTRA_CA_CERTS;
    delete env.GLIBC_TUNABLES;
    // (a container that ends at once: strace -f ends when bk-keeper has recorded it)
    // -ff: a file per process, so no execve line is split by another process's (`<unfinished ...>`), which hid bk-keeper's
    const r = await execa(strace!, ['-ff', '-qq', '-v', '-s', '400', '-e', 'trace=execve', '-o', trace, binPath('run'), '-d', '--name', n, ...BASE, '--', '/bin/true'], { env, extendEnv: false, reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const files = readdirSync(join(trace, '..')).filter((f) => f.startsWith('execve.'));
    const execs = files.flatMap((f) => readFileSync(join(trace, '..', f), 'utf8').split('\n')).filter((l) => /execve\(.*\) = 0$/.test(l));
    const tuned = (l: string) => /"GLIBC_TUNABLES=glibc\.malloc\.hugetlb=1:glibc\.malloc\.top_pad=16777216"/.test(l);
    // (the keeper's start, not the finish bk-keeper starts once the container ended: `__boxkit-keeper finish ...`)
    const keeper = execs.filter((l) => l.includes('"__boxkit-keeper"], [') && /execve\("[^"]*\/node"/.test(l));
    expect(keeper.length, execs.join('\n')).toBe(1);
    expect(tuned(keeper[0]!), keeper[0]).toBe(true);
    const bkKeeper = execs.filter((l) => /execve\("[^"]*\/bk-keeper"/.test(l));
    const container = execs.filter((l) => /execve\("\/bin\/true"/.test(l));
    expect(bkKeeper.length, execs.join('\n')).toBe(1);
    expect(container.length, execs.join('\n')).toBe(1);
    expect([...bkKeeper, ...container].filter(tuned)).toEqual([]);
  }, 60_000);
});
