/**
 * run's subcommands typed the way docker's are: stop honouring the
 * container's --stop-timeout, exec taking everything after NAME as the
 * command, exec -i / -t, and runs of one new --image tarball at once.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, skipReason } from '../harness/index.js';
import { BASE, name, run } from './helpers.js';

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
    expect((await run(['exec', n, '--', 'echo', '-n', 'dash'])).out).toBe('dash');
    expect((await run(['exec', '-d', n, 'touch', '/tmp/detached'])).code).toBe(0);
    for (let i = 0; i < 50 && (await run(['exec', n, 'test', '-e', '/tmp/detached'], null)).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await run(['exec', n, 'test', '-e', '/tmp/detached'], null)).code).toBe(0);
  });
});
