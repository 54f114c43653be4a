/**
 * What docker users read back from run: a detached container's exit code
 * and end time (ps -a, inspect), dry runs that say what the real command
 * would do (exec, gc), logs -f that follows one container (by id), and
 * refusals worded as cg words them.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { binPath, bk, skipReason } from '../harness/index.js';
import { BASE, name, run, toolsBinDir } from './helpers.js';

const made: string[] = [];
const stateFile = (n: string) => `${process.env.BOXKIT_STATE_DIR}/run/containers/${n}.json`;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skipReason)(`run: what docker users read back${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  afterAll(async () => {
    for (const n of made) await run(['rm', '-f', n], null);
  });

  it('gc --dry-run --json is one document with the commands it would run (as every --dry-run --json), and changes nothing', async () => {
    // garbage: a record left 'creating' by a run that is gone, and a data dir no record names
    const n = name('gcdry');
    made.push(n);
    await run(['-d', '--name', n, ...BASE, '--', 'sleep', '600']);
    await run(['stop', '--time', '0', n]);
    const dead = spawnSync('true').pid!;
    writeFileSync(stateFile(n), JSON.stringify({ ...JSON.parse(readFileSync(stateFile(n), 'utf8')), status: 'creating', creatorPid: dead, creatorStart: 1 }));
    const orphan = join(process.env.BOXKIT_DATA_DIR!, 'containers', 'feedfacecafe');
    mkdirSync(orphan, { recursive: true });

    const dry = await run(['gc', '--dry-run', '--json']);
    const doc = JSON.parse(dry.out);
    expect(doc).toMatchObject({ dryRun: true, removed: [n], orphans: ['feedfacecafe'] });
    expect(doc.commands).toEqual(expect.arrayContaining([`cg rm ${n} --parent self`, `rm -rf ${orphan}`]));
    const human = await run(['gc', '--dry-run']);
    expect(human.out.split('\n')).toEqual(doc.commands);
    expect(existsSync(stateFile(n))).toBe(true);
    expect(existsSync(orphan)).toBe(true);

    expect(JSON.parse((await run(['gc', '--json'])).out)).toEqual({ removed: [n], orphans: ['feedfacecafe'] });
    expect(existsSync(stateFile(n))).toBe(false);
    expect(existsSync(orphan)).toBe(false);
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
    const later = ['sh', '-c', 'sleep 1; touch /tmp/later'];
    const t0 = Date.now();
    const d = sh(await dry(['-d'], later));
    expect([d.status, d.stdout, Date.now() - t0 < 1000]).toEqual([0, '', true]);
    for (let i = 0; i < 60 && (await run(['exec', n, 'test', '-e', '/tmp/later'], null)).code !== 0; i++) await wait(100);
    expect((await run(['exec', n, 'test', '-e', '/tmp/later'], null)).code).toBe(0);
    // the JSON document says which
    expect(JSON.parse((await run(['exec', '--dry-run', '--json', '-i', n, 'true'])).out)).toMatchObject({ dryRun: true, interactive: true, tty: false, detach: false });
  });
});
