/**
 * The ran-from note of a FROM-scratch rootfs (packages/run/src/rootfs/ran-from.ts) is keyed by
 * statx's birth time where the kernel vouches for one (STATX_BTIME), else by device and inode
 * alone. It was keyed by Node's birthtime, which where statx is refused (a seccomp filter: EPERM,
 * injected here by strace) is the change time: a chmod of DIR after a container ran from it lost
 * the note, and `run rootfs DIR --from-host` refused DIR (2) and `run gc` dropped the note as
 * 'now another directory'.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { binPath, skipReason, straceBin } from '../harness/index.js';
import { BASE, ownDirs } from './helpers.js';

/**
 * `run` with a data and state dir of its own; `refused` runs it under strace refusing every statx(2) of it and
 * its children with EPERM (as a seccomp filter does); never rejects.
 */
function store(prefix: string) {
  const { own, env } = ownDirs(prefix);
  const notesDir = join(own, 'data', 'rootfs', 'ran-from');
  return {
    own,
    notesDir,
    run: (args: string[]) => execa(binPath('run'), args, { reject: false, env }),
    refused: (strace: string, args: string[]) => execa(strace, ['-f', '-qq', '-o', '/dev/null', '-e', 'trace=statx', '-e', 'inject=statx:error=EPERM', binPath('run'), ...args], { reject: false, env }),
    /** A FROM-scratch rootfs (bin/busybox alone) at own/NAME. */
    scratch: (name: string): string => {
      const dir = join(own, name);
      mkdirSync(join(dir, 'bin'), { recursive: true });
      execFileSync('cp', ['/bin/busybox', join(dir, 'bin', 'busybox')]);
      return dir;
    },
    /**
     * A note naming `dir` by its device and inode, written an hour before `dir` was born: as for a dir noted,
     * removed, and `dir` made at its path with the freed inode number. Its path, and when it was written (s).
     */
    staleNote: (dir: string): { note: string; at: number } => {
      const note = join(notesDir, devIno(dir));
      mkdirSync(notesDir, { recursive: true });
      writeFileSync(note, `${dir}\n`);
      const at = Date.now() / 1000 - 3600;
      utimesSync(note, at, at);
      return { note, at };
    },
    /** The notes: name -> the dir each names. */
    notes: (): Record<string, string> => Object.fromEntries(readdirSync(notesDir).map((n) => [n, readFileSync(join(notesDir, n), 'utf8')])),
  };
}

/** DIR's device and inode as the notes name them (Node's bigint stat). */
const devIno = (dir: string): string => {
  const st = statSync(dir, { bigint: true });
  return `${st.dev}.${st.ino}`;
};

const refusedAs = (dir: string) => `run: rootfs: ${dir} is not empty and holds no root filesystem (no etc, proc, sys, dev)`;
const ok = (r: { exitCode?: number; stderr: unknown }) => expect(r.exitCode, String(r.stderr)).toBe(0);
const pause = () => new Promise((r) => setTimeout(r, 20));

/** Does the test root's file system keep birth times (statx gives one where it is not refused)? */
const keepsBirth = () => statSync(process.env.BOXKIT_TEST_ROOT!, { bigint: true }).birthtimeNs !== 0n;

describe.skipIf(skipReason)(`run: ran-from notes where statx is refused${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("where statx is refused (EPERM), a FROM-scratch DIR a container ran from, chmod'ed since, is still noted: gc keeps its note and `run rootfs DIR --from-host` adds programs (it refused DIR, 2: the note was keyed by the change time)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const s = store('ran-from-statx-');
    const dir = s.scratch('scratch');
    ok(await s.refused(strace, ['--rm', ...BASE, '--rootfs', dir, '--', '/bin/busybox', 'true']));
    // no birth time the kernel vouches for: the note is the device and inode alone
    expect.soft(s.notes()).toEqual({ [devIno(dir)]: `${dir}\n` });
    await pause();
    chmodSync(dir, 0o700);
    const gc = await s.refused(strace, ['gc', '--dry-run', '--json']);
    ok(gc);
    expect.soft(JSON.parse(String(gc.stdout)).ranFrom).toEqual([]);
    const r = await s.refused(strace, ['rootfs', dir, '--from-host', '/bin/true']);
    expect.soft(String(r.stderr)).not.toContain(refusedAs(dir));
    ok(r);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining(['bin', 'dev', 'etc', 'proc', 'sys']));
  });

  it("older notes where statx is refused: one keyed by the change time (as older runs wrote there) proves an unchanged DIR; one keyed by the birth time (the container ran where statx works), DIR chmod'ed since, proves nothing there (refused, 2) but is kept by gc, and still proves DIR where statx works", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    if (!keepsBirth()) return ctx.skip(); // (its notes are keyed by a birth time where statx works)
    const s = store('ran-from-statx-old-');
    // an older run's note where statx was refused: Node's birthtime, the change time there
    const older = s.scratch('older');
    mkdirSync(s.notesDir, { recursive: true });
    writeFileSync(join(s.notesDir, `${devIno(older)}.${statSync(older, { bigint: true }).ctimeNs}`), `${older}\n`);
    ok(await s.refused(strace, ['rootfs', older, '--from-host', '/bin/true', '--dry-run']));
    // a note where statx works: its birth time
    const born = s.scratch('born');
    ok(await s.run(['--rm', ...BASE, '--rootfs', born, '--', '/bin/busybox', 'true']));
    const bornNote = `${devIno(born)}.${statSync(born, { bigint: true }).birthtimeNs}`;
    expect(s.notes()[bornNote]).toBe(`${born}\n`);
    await pause();
    chmodSync(born, 0o700);
    const r = await s.refused(strace, ['rootfs', born, '--from-host', '/bin/true', '--dry-run']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr).split('\n')[0]).toBe(refusedAs(born));
    const gc = await s.refused(strace, ['gc', '--json']);
    ok(gc);
    expect(JSON.parse(String(gc.stdout)).ranFrom).toEqual([]);
    expect(Object.keys(s.notes()).sort()).toEqual([bornNote, `${devIno(older)}.${statSync(older, { bigint: true }).ctimeNs}`].sort());
    ok(await s.run(['rootfs', born, '--from-host', '/bin/true', '--dry-run']));
  });

  it("where statx works, a note without a birth time (written where statx was refused) proves a DIR born before it was written; a DIR born after it (made again at the path, given the freed inode number) is refused (2) and gc drops its note (where statx is refused it is taken by device and inode: the trade-off)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    if (!keepsBirth()) return ctx.skip();
    const s = store('ran-from-statx-devino-');
    const before = s.scratch('before');
    ok(await s.refused(strace, ['--rm', ...BASE, '--rootfs', before, '--', '/bin/busybox', 'true']));
    expect(s.notes()).toEqual({ [devIno(before)]: `${before}\n` });
    ok(await s.run(['rootfs', before, '--from-host', '/bin/true', '--dry-run']));
    const after = s.scratch('after');
    const { note } = s.staleNote(after);
    ok(await s.refused(strace, ['rootfs', after, '--from-host', '/bin/true', '--dry-run']));
    const dry = await s.refused(strace, ['gc', '--dry-run', '--json']);
    ok(dry);
    expect(JSON.parse(String(dry.stdout)).ranFrom).toEqual([]);
    const r = await s.run(['rootfs', after, '--from-host', '/bin/true', '--dry-run']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr).split('\n')[0]).toBe(refusedAs(after));
    const gc = await s.run(['gc']);
    ok(gc);
    expect(String(gc.stdout).trim()).toBe(`removed ran-from note ${note} (${after}: now another directory)`);
    expect(s.notes()).toEqual({ [devIno(before)]: `${before}\n` });
  });

  it("where statx is refused, a container that runs from a DIR found by device and inode writes its note again: where statx works it then proves DIR (it was left older than a DIR made again at the path since, and refused it)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    if (!keepsBirth()) return ctx.skip();
    const s = store('ran-from-statx-again-');
    const dir = s.scratch('again');
    const { note, at: hourAgo } = s.staleNote(dir);
    expect((await s.run(['rootfs', dir, '--from-host', '/bin/true', '--dry-run'])).exitCode).toBe(2);
    // a container runs from it where statx is refused (the note found by device and inode): written again, it proves DIR everywhere
    ok(await s.refused(strace, ['--rm', ...BASE, '--rootfs', dir, '--', '/bin/busybox', 'true']));
    expect(statSync(note).mtimeMs).toBeGreaterThan(hourAgo * 1000 + 60_000);
    ok(await s.run(['rootfs', dir, '--from-host', '/bin/true', '--dry-run']));
  });
});
