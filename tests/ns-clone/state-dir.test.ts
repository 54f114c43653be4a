/**
 * One state dir reached by two spellings (a symlink, /var/run for /run, a
 * relative path): what one start recorded is found by a start through the
 * other, by device and inode, never by path.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pin, signalPinned, skipReason, startTime } from '../harness/index.js';
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

  it("a state dir on an overlay with xino (inode numbers from 2^63 on: a lower layer's files) has its unrecorded default fifo whose maker is gone swept, and a recorded one kept: its inode was compared as a number with a bigint (never equal), and the orphan stayed forever", async (ctx) => {
    await onXinoOverlay(ctx, 'state-xino', async ({ state, orphan, recorded, child, ino, dev }) => {
      // a held child (this test's sleep: alive) whose record names the recorded fifo, as ns-clone writes one (an inode
      // number from 2^53 on as decimal text)
      writeFileSync(join(state, 'ns-clone', `${child.pid}.fifo-path`), JSON.stringify({ fifo: join(state, 'ns-clone', recorded), dev: Number(dev), ino: String(ino), start: startTime(child.pid!) }));
      await sweepKeepsRecorded(state, orphan, recorded, child.pid!);
    });
  });

  it("on an overlay with xino, a held child's record an older ns-clone wrote (its inode number as Number() of Node's signed bigint: rounded, negative) keeps its fifo when a release sweeps, and is found by the fifo's path and by its pid: no exact key matched it, and the sweep removed the held child's fifo as no record's", async (ctx) => {
    await onXinoOverlay(ctx, 'state-xino-old', async ({ state, orphan, recorded, child, signedIno, dev }) => {
      const old = Number(signedIno);
      expect(old).toBeLessThan(0);
      writeFileSync(join(state, 'ns-clone', `${child.pid}.fifo-path`), JSON.stringify({ fifo: join(state, 'ns-clone', recorded), dev: Number(dev), ino: old, start: startTime(child.pid!) }));
      await sweepKeepsRecorded(state, orphan, recorded, child.pid!);
      // and by its pid: the fifo there is taken for its own (a dry run: the child is this test's sleep)
      const byPid = await ns(['release', '--dry-run', String(child.pid)], { env: { BOXKIT_STATE_DIR: state } });
      expect(byPid.exitCode, byPid.stderr).toBe(0);
      expect(byPid.stdout).toContain(join(state, 'ns-clone', recorded));
    });
  });
});

/**
 * Run `body` with an overlay (xino=on, upper on a tmpfs) mounted as a state dir, holding two fifos in its ext4 lower
 * layer named as ns-clone names its default fifos by a maker that is gone (`orphan`, `recorded`; the overlay gives them
 * inode numbers from 2^63 on: `ino` unsigned, `signedIno` as Node's bigint stats give it), and a live `child` (sleep)
 * for a record to name. Skipped where the overlay gives no such inode numbers.
 */
async function onXinoOverlay(ctx: { skip(note?: string): void }, what: string, body: (o: { state: string; orphan: string; recorded: string; child: ChildProcess; ino: bigint; signedIno: bigint; dev: bigint }) => Promise<void>): Promise<void> {
  const dir = tmp(what);
  const lower = join(dir, 'lower'), layers = join(dir, 'layers'), state = join(dir, 'state');
  for (const d of [join(lower, 'ns-clone'), layers, state]) mkdirSync(d, { recursive: true });
  const gonePid = spawnSync('true').pid!;
  const orphan = `setup-${gonePid}-${Date.now().toString(36)}.fifo`;
  const recorded = `setup-${gonePid}-${Date.now().toString(36)}-1.fifo`;
  execFileSync('mkfifo', [join(lower, 'ns-clone', orphan), join(lower, 'ns-clone', recorded)]);
  // upper and work on a tmpfs: another file system than the lower layer's, so that xino maps the inode numbers
  execFileSync('mount', ['-t', 'tmpfs', 'layers', layers]);
  const child = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    mkdirSync(join(layers, 'upper'));
    mkdirSync(join(layers, 'work'));
    execFileSync('mount', ['-t', 'overlay', 'state', '-o', `lowerdir=${lower},upperdir=${join(layers, 'upper')},workdir=${join(layers, 'work')},xino=on`, state]);
    const big = statSync(join(state, 'ns-clone', recorded), { bigint: true });
    // (Node's bigint stats are signed: an inode number from 2^63 on comes negative)
    const ino = BigInt.asUintN(64, big.ino);
    if (ino < 2n ** 53n) return ctx.skip(`this overlay gave no inode number from 2^53 on (xino off): ${ino}`);
    await body({ state, orphan, recorded, child, ino, signedIno: big.ino, dev: big.dev });
  } finally {
    child.kill('SIGKILL');
    for (const m of [state, layers]) while (mountsAt(m).length) execFileSync('umount', [m]);
  }
}

/** Any release sweeps: the orphan goes, the recorded fifo (held by `pid`) and its record stay; a release given that fifo's path finds the record. */
async function sweepKeepsRecorded(state: string, orphan: string, recorded: string, pid: number): Promise<void> {
  const r = await ns(['release', '999999'], { env: { BOXKIT_STATE_DIR: state } });
  expect(r.exitCode, r.stderr).toBe(2);
  expect(readdirSync(join(state, 'ns-clone')).sort()).toEqual([`${pid}.fifo-path`, recorded].sort());
  // and a release given the recorded fifo's path finds its record (by device and inode)
  const dry = await ns(['release', '--dry-run', join(state, 'ns-clone', recorded)], { env: { BOXKIT_STATE_DIR: state } });
  expect(dry.exitCode, dry.stderr).toBe(0);
  expect(dry.stdout).toContain(join(state, 'ns-clone', `${pid}.fifo-path`));
}
