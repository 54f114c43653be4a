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
import { bk, skipReason } from '../harness/index.js';
import { BASE, name, run } from './helpers.js';

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
});
