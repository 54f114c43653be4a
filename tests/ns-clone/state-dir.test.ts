/**
 * One state dir reached by two spellings (a symlink, /var/run for /run, a
 * relative path): what one start recorded is found by a start through the
 * other, by device and inode, never by path.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pin, signalPinned, skipReason } from '../harness/index.js';
import { mountsAt, ns, tmp, until } from './helpers.js';

/** A fresh dir holding a state dir (real) and a symlink to it (link): one state dir, two spellings. */
function twoSpellings(what: string) {
  const dir = tmp(what);
  const real = join(dir, 'real');
  const link = join(dir, 'link');
  mkdirSync(real);
  symlinkSync(real, link);
  return { dir, real, link };
}

describe.skipIf(skipReason)(`ns-clone state dir spellings${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("a child held through a symlinked state dir keeps its fifo when a start through the real path sweeps: released, it runs its command (its fifo was removed as no record's, and the release failed)", async () => {
    const { dir, real, link } = twoSpellings('state-spellings');
    const ran = join(dir, 'ran');
    const a = await ns(['-d', '--wait-for-setup', '--uts', '--', 'sh', '-c', `echo ran > ${ran}`], { env: { BOXKIT_STATE_DIR: link } });
    expect(a.exitCode, a.stderr).toBe(0);
    const held = pin(Number(a.stdout));
    try {
      // another start through the real path: its sweep looks at A's default fifo, whose maker (A's ns-clone) is gone
      const b = await ns(['-d', '--wait-for-setup', '--uts', '--', 'true'], { env: { BOXKIT_STATE_DIR: real } });
      expect(b.exitCode, b.stderr).toBe(0);
      expect((await ns(['release', b.stdout], { env: { BOXKIT_STATE_DIR: real } })).exitCode).toBe(0);
      const rel = await ns(['release', a.stdout], { env: { BOXKIT_STATE_DIR: link } });
      expect(rel.exitCode, rel.stderr).toBe(0);
      await until(() => existsSync(ran) && readFileSync(ran, 'utf8') === 'ran\n', 5000, "A's command to run");
    } finally {
      signalPinned(held, 'SIGKILL');
    }
  });

  it('release --abort FIFO through another spelling of the state dir (a symlink) than the start used takes back what the start bound (--net=PATH unmounted, its file removed) and its record: the record is found by the fifo\'s device and inode (by path, none was: PATH stayed bound)', async () => {
    const { dir, real, link } = twoSpellings('state-release-spelling');
    const path = join(dir, 'net');
    const a = await ns(['-d', '--wait-for-setup', '--json', `--net=${path}`, '--', 'true'], { env: { BOXKIT_STATE_DIR: real } });
    expect(a.exitCode, a.stderr).toBe(0);
    const doc = JSON.parse(a.stdout) as { pid: number; setupFifo: string };
    const held = pin(doc.pid);
    try {
      expect(mountsAt(path)).toHaveLength(1);
      const viaLink = doc.setupFifo.replace(real, link);
      expect(viaLink).not.toBe(doc.setupFifo);
      const rel = await ns(['release', '--abort', viaLink], { env: { BOXKIT_STATE_DIR: link } });
      expect(rel.exitCode, rel.stderr).toBe(0);
      expect(mountsAt(path)).toEqual([]);
      expect(existsSync(path)).toBe(false);
      // its fifo and record gone, with the directory made for them
      expect(existsSync(join(real, 'ns-clone')) ? readdirSync(join(real, 'ns-clone')) : []).toEqual([]);
    } finally {
      signalPinned(held, 'SIGKILL');
      while (mountsAt(path).length) execFileSync('umount', [path]);
    }
  });
});
