/** sweep: what killed extractions left behind goes, a live extraction's dir stays. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TarWriter } from '../src/tar.js';
import { extractLayer } from '../src/extract.js';
import { holdExtraction, sweepStaleLayers } from '../src/sweep.js';

let root = '';
beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'unionfs-sweep-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** The pid of a process that ran and was reaped: nothing has it (until the system hands it out again). */
function deadPid(): number {
  const pid = spawnSync('true').pid!;
  expect(existsSync(`/proc/${pid}`)).toBe(false);
  return pid;
}

/** A dir as an extraction makes it, with something in it. */
function tmpDir(parent: string, name: string): string {
  const p = join(parent, name);
  mkdirSync(join(p, 'etc'), { recursive: true });
  writeFileSync(join(p, 'etc/file'), 'partial');
  return p;
}

const digest = (c: string) => c.repeat(64);

describe('sweepStaleLayers', () => {
  it('removes the layer store extraction dirs of dead and zombie pids; keeps live pids, layers and foreign names', async () => {
    const store = join(root, 'layers');
    mkdirSync(store);
    // a zombie: sh's background child, never reaped once sh execs sleep
    const sh = spawn('sh', ['-c', 'true & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const zombie = Number(await new Promise<string>((res) => sh.stdout!.once('data', (b) => res(String(b)))));
    for (let i = 0; i < 100 && !/\) Z/.test(spawnSync('cat', [`/proc/${zombie}/stat`], { encoding: 'utf8' }).stdout); i++) await new Promise((r) => setTimeout(r, 10));
    try {
      const dead = tmpDir(store, `${digest('a')}.${deadPid()}.tmp`);
      const zombied = tmpDir(store, `${digest('b')}.${zombie}.tmp`);
      const live = tmpDir(store, `${digest('c')}.${process.pid}.tmp`);
      const parent = tmpDir(store, `${digest('d')}.${process.ppid}.tmp`);
      const layer = tmpDir(store, digest('e'));
      const foreign = tmpDir(store, `notalayer.${deadPid()}.tmp`);
      expect(sweepStaleLayers(store).sort()).toEqual([dead, zombied].sort());
      expect(readdirSync(store).map((n) => join(store, n)).sort()).toEqual([live, parent, layer, foreign].sort());
    } finally {
      sh.kill();
    }
  });

  it("keeps a dir whose extraction holds its lock though its pid looks gone (an extraction in another pid namespace, whose pids this /proc does not show)", () => {
    const store = join(root, 'layers-held');
    mkdirSync(store);
    const dir = tmpDir(store, `${digest('f')}.${deadPid()}.tmp`);
    const fd = holdExtraction(dir);
    try {
      expect(sweepStaleLayers(store)).toEqual([]);
      expect(existsSync(dir)).toBe(true);
    } finally {
      closeSync(fd);
    }
    expect(sweepStaleLayers(store)).toEqual([dir]);
  });

  it('a store that does not exist: nothing to do', () => {
    expect(sweepStaleLayers(join(root, 'none'))).toEqual([]);
  });
});

describe('extractLayer', () => {
  it("leaves what is beside its target alone: a DIR.N.tmp there may be the user's own (only the layer store's names are boxkit's)", async () => {
    const tar = join(root, 'l.tar');
    const w = new TarWriter(tar);
    w.add({ name: 'f', type: 'file', mode: 0o644, size: 0, uid: process.getuid!(), gid: process.getgid!(), mtime: 1_700_000_000 });
    w.finish();
    const out = join(root, 'out');
    mkdirSync(out);
    const dir = join(out, 'layer');
    const users = tmpDir(out, `layer.${deadPid()}.tmp`);
    await extractLayer(tar, dir);
    expect(existsSync(users) && existsSync(join(dir, 'f'))).toBe(true);
  });
});
