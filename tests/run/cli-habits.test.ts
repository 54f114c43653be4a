/**
 * run's subcommands typed the way docker's are: stop honouring the
 * container's --stop-timeout, exec taking everything after NAME as the
 * command, exec -i / -t, and runs of one new --image tarball at once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, signalGroupOf, skipReason, waitUntil } from '../harness/index.js';
import { BASE, name, onTerminal, overlayMounts, run } from './helpers.js';

const made: string[] = [];

const env = (): NodeJS.ProcessEnv => {
  const e = { ...process.env };
  delete e.NODE_EXTRA_CA_CERTS;
  return e;
};

/** `run ARGS` with `input` on its stdin (a pipe, closed after). */
function runWithStdin(args: string[], input: string): Promise<{ code: number | null; out: string; err: string }> {
  const p = spawn(process.execPath, [binPath('run'), ...args], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  p.stdin.on('error', () => {}); // EPIPE when nothing reads it
  p.stdin.end(input);
  return new Promise((r) => p.once('close', (code) => r({ code, out, err })));
}

/** A detached container running `sleep 600` that ignores SIGTERM (sh traps it), so stop has to wait for its timeout. */
async function stubborn(what: string, extra: string[] = []): Promise<string> {
  const n = name(what);
  made.push(n);
  await run(['-d', '--name', n, ...BASE, ...extra, '--', 'sh', '-c', "trap '' TERM; sleep 600 & wait; sleep 600"]);
  return n;
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = Date.now();
  const r = await fn();
  return [r, (Date.now() - t0) / 1000];
}

describe.skipIf(skipReason)(`run: docker's subcommand habits${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    for (const n of made) await run(['rm', '-f', n], null);
  });

  it('run -d with its stdout on a full device: the container runs, exit 1 (not 125, which says it did not start), one line', async () => {
    const n = name('fulld');
    made.push(n);
    const { openSync, closeSync } = await import('node:fs');
    const { bk } = await import('../harness/index.js');
    const fd = openSync('/dev/full', 'w');
    let r;
    try {
      r = await bk('run', ['-d', '--name', n, ...BASE, '--', 'sleep', '600'], { stdout: fd as never });
    } finally {
      closeSync(fd);
    }
    expect([r.exitCode, String(r.stderr).trim().split('\n')]).toEqual([1, ['run: the container started, but cannot write to standard output: no space left on device (see run ps)']]);
    expect(JSON.parse((await run(['inspect', n])).out)[0].status).toBe('running');
  });

  it('a Ctrl-C while stop waits out the timeout kills at once (SIGKILL, recorded 137), says so, and exits 130', async () => {
    const n = await stubborn('hurry', ['--stop-timeout', '60']);
    const t0 = Date.now();
    const p = spawn(binPath('run'), ['stop', n], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    await new Promise((r) => setTimeout(r, 700)); // (stop has sent SIGTERM and waits)
    p.kill('SIGINT');
    const code = await new Promise((r) => p.once('close', (c) => r(c)));
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect([code, err.trim()]).toEqual([130, 'run: stop interrupted by SIGINT: killed what was still running (SIGKILL)']);
    const rec = JSON.parse((await run(['inspect', n])).out)[0];
    expect([rec.status, rec.exitCode]).toEqual(['exited', 137]);
  });

  it("stop without --time waits the container's own --stop-timeout, not 10 s; --time still wins and is still checked", async () => {
    const n = await stubborn('stopt', ['--stop-timeout', '1']);
    const [, took] = await timed(() => run(['stop', n]));
    expect(took).toBeGreaterThan(0.9);
    expect(took).toBeLessThan(5);
    expect(JSON.parse((await run(['inspect', n])).out)[0].exitCode).toBe(137);

    const m = await stubborn('stopt2', ['--stop-timeout', '30']);
    const [, took2] = await timed(() => run(['stop', '--time', '1', m]));
    expect(took2).toBeLessThan(5);

    const bad = await run(['stop', '--time', '-1', m], null);
    expect(bad.code).toBe(2);
    expect(bad.err).toMatch(/--time/);
  });

  it('stop --dry-run shows the recorded timeout', async () => {
    const n = await stubborn('stopdry', ['--stop-timeout', '3']);
    const r = await run(['stop', '--dry-run', n]);
    expect(r.out).toMatch(/sleep 3;/);
    await run(['rm', '-f', n]);
  });

  it('exec NAME CMD -FLAGS: the first word after NAME starts the command (no -- needed); exec flags before NAME still work', async () => {
    const n = name('execw');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    const ls = await run(['exec', n, 'ls', '-la', '/']);
    expect(ls.out).toMatch(/ proc\n/);
    expect((await run(['exec', n, 'sh', '-c', 'echo $X', '-u', 'nobody'])).out).toBe('');
    const flags = await run(['exec', '-u', '65534', '-e', 'X=1', '-w', '/tmp', n, 'sh', '-c', 'echo $(id -u) $X $(pwd)']);
    expect(flags.out).toBe('65534 1 /tmp');
    // -e/--env take one value each, repeated as docker's (a greedy list took NAME and the command for more values)
    for (const e of [['-e', 'A=1'], ['--env', 'A=1'], ['--env=A=1']]) expect((await run(['exec', ...e, '-e', 'B=2', n, 'sh', '-c', 'echo $A$B'])).out).toBe('12');
    // -- before NAME ends exec's flags, as docker's
    expect((await run(['exec', '-e', 'A=3', '--', n, 'sh', '-c', 'echo $A'])).out).toBe('3');
    expect((await run(['exec', n, '--', 'echo', '-n', 'dash'])).out).toBe('dash');
    expect((await run(['exec', '-d', n, 'touch', '/tmp/detached'])).code).toBe(0);
    for (let i = 0; i < 50 && (await run(['exec', n, 'test', '-e', '/tmp/detached'], null)).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await run(['exec', n, 'test', '-e', '/tmp/detached'], null)).code).toBe(0);
    // -d: its output goes nowhere, as docker exec -d (it wrote into the caller's stdout after run had exited)
    const quiet = await run(['exec', '-d', n, 'sh', '-c', 'echo out; echo err >&2; echo $(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2) > /tmp/fds']);
    expect([quiet.out, quiet.err]).toEqual(['', '']);
    for (let i = 0; i < 50 && (await run(['exec', n, 'test', '-s', '/tmp/fds'], null)).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await run(['exec', n, 'cat', '/tmp/fds'])).out).toBe('/dev/null /dev/null /dev/null');
  });

  it("a subcommand typed after a common flag is that subcommand, and a docker verb run lacks is refused: neither starts a container", async () => {
    const containers = () => {
      try {
        return readdirSync(`${process.env.BOXKIT_STATE_DIR}/run/containers`).sort();
      } catch {
        return [];
      }
    };
    const before = containers();
    const mounts = overlayMounts().length;
    // (it ran busybox's rm in a new container)
    const rm = await run(['--json', 'rm', '-f', name('nosuch')]);
    expect(JSON.parse(rm.out)).toEqual({ removed: [] });
    for (const verb of ['start', 'kill', 'restart']) {
      const r = await run([verb, 'web'], null);
      expect(r.code, r.err).toBe(125);
      expect(r.err.trim()).toBe(`run: '${verb}' is not a run command (run has rootfs, ps, ls, exec, logs, stop, rm, inspect, gc)\nhint: to run a program named ${verb} in a new container: run -- ${verb} web`);
    }
    expect((await run(['--dry-run', 'kill', 'web'], null)).code).toBe(125);
    expect(containers()).toEqual(before);
    expect(overlayMounts()).toHaveLength(mounts);
    // after -- (or after a run option) it is the container's command
    expect((await run([...BASE, '--rm', '--', 'kill', '-l', '9'])).out).toBe('KILL');
  });

  it('list options take one value per flag on the yargs path too (-e A=1 -e B=2 then the command, no --)', async () => {
    // --read-only=false sends the start through the yargs wiring (the fast parser declines it)
    const r = await run([...BASE, '--rm', '--read-only=false', '-e', 'A=1', '-e', 'B=2', 'sh', '-c', 'echo $A$B']);
    expect(r.out).toBe('12');
  });

  it('logs --tail N (-n N) prints the last N lines of each stream, as docker logs --tail; all and 0 too', async () => {
    const n = name('tail');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo $i; done; echo e1 >&2; echo e2 >&2; printf last']);
    for (let i = 0; i < 100 && !(await run(['ps', '-a'])).out.split('\n').some((l) => l.includes(n) && /exited/.test(l)); i++) await new Promise((r) => setTimeout(r, 50));
    const t3 = await run(['logs', '--tail', '3', n]);
    expect([t3.out, t3.err]).toEqual(['9\n10\nlast', 'e1\ne2']); // (the helper strips a final newline)
    const n1 = await run(['logs', '-n', '1', n]);
    expect([n1.out, n1.err]).toEqual(['last', 'e2']);
    expect((await run(['logs', '--tail', '0', n])).out).toBe('');
    expect((await run(['logs', '--tail', 'all', n])).out).toBe('1\n2\n3\n4\n5\n6\n7\n8\n9\n10\nlast');
    const bad = await run(['logs', '--tail', 'x', n], 2);
    expect(bad.err.split('\n')[0]).toBe("run: invalid --tail 'x'");
  });

  it('logs -f into a reader that leaves (| head -2) ends with it, as tail -f; a full disk is one line, exit 1', async () => {
    const n = name('follow-head');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'while true; do echo line; sleep 0.05; done']);
    const sh = (cmd: string) => new Promise<{ code: number | null; err: string; ms: number }>((r) => {
      const t0 = Date.now();
      const p = spawn('sh', ['-c', cmd], { env: { ...env(), RUN: binPath('run') }, stdio: ['ignore', 'ignore', 'pipe'], detached: true });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      // (bounded: the follow went on after head had left, until this kill of the pipeline's group)
      // (only while sh, the group's leader, is unreaped: after that its pgid may be another group's)
      const kill = setTimeout(() => signalGroupOf(p, 'SIGKILL'), 8000);
      p.once('close', (code) => {
        clearTimeout(kill);
        r({ code, err, ms: Date.now() - t0 });
      });
    });
    const head = await sh(`"${process.execPath}" "$RUN" logs -f ${n} | head -2 >/dev/null`);
    expect(head.code, head.err).toBe(0);
    expect(head.ms).toBeLessThan(5000);
    const full = await sh(`"${process.execPath}" "$RUN" logs -f ${n} > /dev/full`);
    expect(full.code).toBe(1);
    expect(full.err).toBe('run: cannot write to standard output: no space left on device\n');
    // the container's stderr is data too: unwritable, logs fails (exit 1; its line has nowhere to go),
    // where it stopped following, exit 0, as if its reader had left
    const e = name('follow-err');
    made.push(e);
    await run(['-d', '--name', e, ...BASE, '--', 'sh', '-c', 'while true; do echo out; echo err >&2; sleep 0.05; done']);
    const errFull = await sh(`"${process.execPath}" "$RUN" logs -f ${e} 2>/dev/full >/dev/null`);
    expect([errFull.code, errFull.ms < 5000]).toEqual([1, true]);
  });

  it('a one-value flag given twice takes the last on the yargs path too, as the fast path and docker (run, exec, logs, stop)', async () => {
    // --read-only=false sends run to yargs; exec, logs and stop always go there. yargs gathered the two
    // into an array: 'invalid container name 'a,b'', exec -u twice 'spec.split is not a function'
    const r = await run(['--read-only=false', '--rm', ...BASE, '--name', name('twice-a'), '--name', name('twice-b'), '-w', '/etc', '-w', '/tmp',
      '-u', 'root', '-u', 'nobody', '--memory', '32M', '--memory', '64M', '--', 'sh', '-c', 'hostname; pwd; id -u']);
    expect(r.out.split('\n')).toEqual([name('twice-b'), '/tmp', '65534']);
    const n = name('twice');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sh', '-c', 'echo 1; echo 2; echo 3; sleep 600']);
    await waitUntil(`${n}'s output`, async () => (await run(['logs', n])).out === '1\n2\n3', 20_000);
    expect((await run(['exec', '-w', '/etc', '-w', '/tmp', '-u', 'nobody', '-u', 'root', n, 'sh', '-c', 'pwd; id -u'])).out).toBe('/tmp\n0');
    expect((await run(['logs', '--tail', '1', '--tail', '2', n])).out).toBe('2\n3');
    const t0 = Date.now();
    await run(['stop', '--time', '30', '--time', '0', n]);
    expect(Date.now() - t0).toBeLessThan(10_000);
  });

  it('exec -i passes stdin on; without -i the command reads /dev/null, as run does', async () => {
    const n = name('execi');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    const withI = await runWithStdin(['exec', '-i', n, 'cat'], 'piped in\n');
    expect(withI).toMatchObject({ code: 0, out: 'piped in\n' });
    const without = await runWithStdin(['exec', n, 'sh', '-c', 'cat; readlink /proc/self/fd/0'], 'piped in\n');
    expect(without.code).toBe(0);
    expect(without.out).toBe('/dev/null\n');
  });

  it('exec -t passes the window size on', async () => {
    const n = name('execsz');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    expect(await onTerminal(`stty rows 31 cols 101; ${process.execPath} ${binPath('run')} exec -it ${n} stty size`)).toContain('31 101');
    // its terminal is the container's own /dev/pts/N (a pty of the host's devpts had no name inside: tty said 'not a tty')
    // (in the tty group, gid 5, as runc's devpts makes it)
    const named = await onTerminal(`stty rows 31 cols 101; ${process.execPath} ${binPath('run')} exec -it ${n} sh -c 'tty; [ -c "$(tty)" ] && echo named; stat -c %g "$(tty)"; stty size'`);
    expect(named).toMatch(/\/dev\/pts\/\d+\r*\nnamed\r*\n5\r*\n31 101/);
  });

  it('exec -it gives the command a pseudo-terminal: Ctrl-C interrupts its foreground command, its exit status comes back', async () => {
    const n = name('execit');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    const p = spawn(process.execPath, [binPath('run'), 'exec', '-it', n, 'sh'], { env: env(), stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    // (a loaded machine can take seconds to join the container: up to 30 s)
    const until = async (s: string) => {
      for (let i = 0; i < 1200 && !out.includes(s) && p.exitCode === null; i++) await new Promise((r) => setTimeout(r, 25));
    };
    p.stdin.write('[ -t 0 ] && echo IS""ATTY\n');
    await until('ISATTY');
    // the foreground command says when it runs: a Ctrl-C before the sleep is the terminal's
    // foreground job (a fixed 500 ms wait under load) reaches the shell only (see tty.test.ts)
    p.stdin.write("sh -c 'echo SLEEP\"\"ING; exec sleep 100'\n");
    await until('SLEEPING');
    p.stdin.write('\x03'); // Ctrl-C: SIGINT to the foreground sleep through the line discipline, not to the shell
    p.stdin.write('echo AFTER""SLEEP $?\n');
    await until('AFTERSLEEP');
    p.stdin.write('exit 3\n');
    const code = await new Promise((r) => (p.exitCode !== null ? r(p.exitCode) : p.once('exit', r)));
    expect(err).toBe('');
    expect(out).toContain('ISATTY');
    expect(out).toMatch(/AFTERSLEEP 130/);
    expect(code).toBe(3);
  });

  it('several runs of one new --image tarball at once all start (the layer is extracted once, under unionfs\'s lock)', async () => {
    const root = process.env.BOXKIT_TEST_ROOT!;
    const def = JSON.parse((await run(['rootfs', '--default', '--json'])).out).dir as string;
    // a tarball no run has extracted yet: the default rootfs plus a file of this test's own
    const src = join(root, 'concurrent-image');
    mkdirSync(src, { recursive: true });
    execFileSync('cp', ['-a', `${def}/.`, src]);
    for (let i = 0; i < 200; i++) writeFileSync(join(src, `filler-${i}`), `${name('img')} ${i}\n`.repeat(200));
    const tar = join(root, 'concurrent-image.tar');
    execFileSync('tar', ['-C', src, '-cf', tar, '.']);
    const rs = await Promise.all(Array.from({ length: 4 }, () => run(['--rm', ...BASE, '--image', tar, '--', 'cat', '/filler-7'], null)));
    for (const r of rs) expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
  });
});
