/**
 * The records of held children against the file system's own reuse of
 * inode numbers: a fifo made again at a path gets the number just freed
 * (ext4 does; tmpfs does not), and only its birth time tells it from the one a
 * record noted. And stale records (child gone, fifo not its own) go when a
 * new fifo is made, not only at a release.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { mkfifo, STATX, statxFile } from '@boxkit/native';
import { bornAsNamed, fileKey, findSetupFifo, makeSetupFifo, recordFifo, setupDir, sweepRecords } from '../src/setup-fifo.js';

let dir: string;
let saved: string | undefined;
beforeEach(() => {
  dir = mkdtempSync(join(process.env.BOXKIT_TEST_ROOT ?? tmpdir(), 'bk-setup-fifo-'));
  saved = process.env.BOXKIT_STATE_DIR;
  process.env.BOXKIT_STATE_DIR = join(dir, 'state');
});
afterEach(() => {
  if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
  else process.env.BOXKIT_STATE_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

describe('setup fifo records', () => {
  it('a fifo made again at a path (the same inode number) is not the one an earlier record noted, even when that record is written after it', (ctx) => {
    const f = join(dir, 'f.fifo');
    const a = makeSetupFifo(f);
    unlinkSync(f); // A's child read it (released by hand) before A wrote its record
    const b = makeSetupFifo(f);
    if (b.ino !== a.ino || b.dev !== a.dev) ctx.skip(); // this file system did not give the number again
    if (statSync(f, { bigint: true }).birthtimeNs === 0n) ctx.skip(); // no birth time here: only the sweep by path protects
    // A's record, late (the race the sweep at B's mkfifo cannot catch); its child (this process) alive
    recordFifo(process.pid, a);
    const found = findSetupFifo(f, true);
    expect(found.pid).toBeUndefined();
    expect(found.fifo).toBe(f);
    // told apart by the birth time each noted
    expect(a.btime).toBeDefined();
    expect(b.btime).not.toBe(a.btime);
    // and the record of B's own fifo is B's
    recordFifo(process.pid, b);
    expect(findSetupFifo(f, true).pid).toBe(String(process.pid));
  });

  it('making a fifo (default path) removes stale records: child gone and fifo not there', () => {
    const done = spawnSync('true');
    const gonePid = done.pid!;
    const records = setupDir();
    makeSetupFifo(); // makes the state dir
    writeFileSync(join(records, `${gonePid}.fifo-path`), JSON.stringify({ fifo: join(dir, 'released.fifo'), dev: 1, ino: 1, start: 1 }));
    // one whose child (this process) is alive stays, its fifo gone or not
    const live = makeSetupFifo(join(dir, 'live.fifo'));
    recordFifo(process.pid, live);
    unlinkSync(live.fifo);
    const next = makeSetupFifo();
    expect(existsSync(next.fifo)).toBe(true);
    expect(readdirSync(records).filter((n) => n.endsWith('.fifo-path'))).toEqual([`${process.pid}.fifo-path`]);
  });

  it('a default fifo no record names (its start killed between its mkfifo and its record) goes at the next sweep once its maker is gone; one whose maker lives, that a record names, or that was born long after its name\'s time (a user\'s --setup-fifo) stays', () => {
    const records = setupDir();
    const mine = makeSetupFifo(); // this process made it and lives: no record yet, as a start between the two
    const gonePid = spawnSync('true').pid!;
    const orphan = join(records, `setup-${gonePid}-${Date.now().toString(36)}.fifo`);
    mkfifo(orphan, 0o600);
    // its maker gone, but a record (of a child alive: this process) names it: the child's
    const recorded = makeSetupFifo(join(records, `setup-${gonePid}-abc.fifo`));
    recordFifo(process.pid, recorded);
    // a user's --setup-fifo under a name an earlier start printed (made a minute after that name's time), no record
    // naming it yet: not a default fifo ns-clone made
    const given = makeSetupFifo(join(records, `setup-${gonePid}-${(Date.now() - 60_000).toString(36)}.fifo`));
    sweepRecords();
    expect(readdirSync(records).sort()).toEqual([`${process.pid}.fifo-path`, mine.fifo.split('/').pop()!, `setup-${gonePid}-abc.fifo`, given.fifo.split('/').pop()!].sort());
  });

  it('a default fifo no record names, named after a pid used again by a process started after it was made (its mtime), goes at the next sweep', (ctx) => {
    const records = setupDir();
    makeSetupFifo(); // makes the state dir
    // named after this process, which started long after it was made (its mtime set back): the pid used again, not its maker
    const reused = join(records, `setup-${process.pid}-${Date.now().toString(36)}-2.fifo`);
    mkfifo(reused, 0o600);
    // the sweep tells when it was born by its birth time; a file system that keeps none (birthtimeNs 0) gives the
    // mtime set back here instead, long before its name's time: a user's fifo under such a name, which stays
    if (statSync(reused, { bigint: true }).birthtimeNs === 0n) ctx.skip('this file system keeps no birth times: the mtime set back would be read as the fifo\'s birth');
    utimesSync(reused, 1000, 1000);
    sweepRecords();
    expect(existsSync(reused)).toBe(false);
  });

  it('a held child\'s default fifo whose record names it through another spelling of the state dir (a symlink) is its own: a sweep through the real path leaves it (it removed it, its maker gone)', () => {
    const real = join(dir, 'real');
    const link = join(dir, 'link');
    mkdirSync(real);
    symlinkSync(real, link);
    const gonePid = spawnSync('true').pid!;
    process.env.BOXKIT_STATE_DIR = link;
    // made by a start that exited since (its pid gone), for a child still held (this process): its record names the
    // fifo through the link
    const held = makeSetupFifo(join(setupDir(), `setup-${gonePid}-abc.fifo`));
    recordFifo(process.pid, held);
    expect(held.fifo.startsWith(link)).toBe(true);
    process.env.BOXKIT_STATE_DIR = real;
    makeSetupFifo(); // another start through the real path: its sweep
    sweepRecords();
    expect(statSync(join(real, 'ns-clone', `setup-${gonePid}-abc.fifo`)).isFIFO()).toBe(true);
    expect(findSetupFifo(String(process.pid), true).fifo).toBe(held.fifo);
  });

  it('a record rewritten aside (NAME.PID.tmp) by a process killed before its rename goes at the next sweep; one whose writer lives stays', () => {
    const records = setupDir();
    makeSetupFifo(); // makes the state dir
    const gonePid = spawnSync('true').pid!;
    const dead = join(records, `123.fifo-path.${gonePid}.tmp`);
    const live = join(records, `124.fifo-path.${process.pid}.tmp`);
    writeFileSync(dead, '{}');
    writeFileSync(live, '{}');
    sweepRecords();
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(live)).toBe(true);
  });

  it("a default fifo is judged by statx's birth time only where its mask has STATX_BTIME; without it (statx refused: Node's birthtime is then the change time, which a chmod moves; a file system keeping none) by its mtime, never by that time", (ctx) => {
    const f = join(dir, 'f.fifo');
    mkfifo(f, 0o600);
    const s = statxFile(f, false);
    if ((s.mask & STATX.BTIME) === 0) ctx.skip('this file system keeps no birth times');
    // named when it was born; its mtime a minute later (a touch)
    const name = Number(s.btimeNs / 1_000_000n).toString(36);
    const touched = s.btimeNs + 60_000_000_000n;
    expect(bornAsNamed(name, s, touched)).toBe(true);
    // the same result without STATX_BTIME: the time in stx_btime proves nothing, the mtime (a minute later) keeps it
    const unproven = { ...s, mask: s.mask & ~STATX.BTIME };
    expect(bornAsNamed(name, unproven, touched)).toBe(false);
    expect(bornAsNamed(name, unproven, s.btimeNs)).toBe(true);
    // statx refused
    expect(bornAsNamed(name, undefined, touched)).toBe(false);
    // a chmod moves the change time, never the birth time statx gives
    const before = statxFile(f, false);
    const tick = Date.now() + 20;
    while (Date.now() < tick) {
      // (past the file system's clock tick)
    }
    chmodSync(f, 0o620);
    expect(statSync(f, { bigint: true }).ctimeNs).toBeGreaterThan(before.btimeNs);
    expect(statxFile(f, false).btimeNs).toBe(before.btimeNs);
  });

  it("a file's key is one from a bigint stat (Node's are signed: an inode number from 2^63 on, overlayfs xino's, comes negative), from statx's unsigned one and from a record's FileId (decimal text from 2^53 on, a number below, as older ns-clones wrote); inode numbers a double cannot tell apart get two keys", () => {
    const ino = 2n ** 63n + 2147378n;
    expect(fileKey({ dev: 2049n, ino: BigInt.asIntN(64, ino) })).toBe(fileKey({ dev: 2049n, ino }));
    expect(fileKey({ dev: 2049, ino: String(ino) })).toBe(fileKey({ dev: 2049n, ino: BigInt.asIntN(64, ino) }));
    // a record's inode number rounded to a double (an older ns-clone's) is not the key of the file it noted
    expect(fileKey({ dev: 2049, ino: Number(2n ** 53n + 1n) })).not.toBe(fileKey({ dev: 2049n, ino: 2n ** 53n + 1n }));
    expect(fileKey({ dev: 2049n, ino: 2n ** 53n })).not.toBe(fileKey({ dev: 2049n, ino: 2n ** 53n + 1n }));
    // a fifo's record notes an inode number below 2^53 as a number, its own stat's key
    const made = makeSetupFifo(join(dir, 'f.fifo'));
    recordFifo(process.pid, made);
    const rec = JSON.parse(readFileSync(join(setupDir(), `${process.pid}.fifo-path`), 'utf8')) as { dev: unknown; ino: unknown };
    expect(typeof rec.ino).toBe('number');
    expect(fileKey(rec as { dev: number; ino: number })).toBe(fileKey(statSync(made.fifo, { bigint: true })));
  });

  it('two fifos of one process in the same millisecond (default path) get two names', () => {
    const now = vi.spyOn(Date, 'now').mockReturnValue(Date.now());
    try {
      const a = makeSetupFifo();
      const b = makeSetupFifo();
      expect(b.fifo).not.toBe(a.fifo);
      expect(statSync(a.fifo).isFIFO() && statSync(b.fifo).isFIFO()).toBe(true);
    } finally {
      now.mockRestore();
    }
  });
});
