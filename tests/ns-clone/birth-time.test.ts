/**
 * A held child's record notes its fifo's birth time, as statx(2) gives it
 * with STATX_BTIME in its mask. Where statx is refused (a seccomp filter:
 * EPERM, injected here by strace), Node's stat falls back to stat(2) and
 * reports the change time as birth time: a chmod of the fifo (to let
 * another user release the child) moved it, and `release PID` took the
 * fifo for another's, dropped the record and failed. A record noting a
 * birth time (its start ran where statx works) is acted on there only while
 * the fifo's change time is still that birth time; else the release is
 * refused and the record kept.
 */
import { describe, expect, it } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { pin, signalPinned, skipReason, type Pinned } from '../harness/index.js';
import { binPath, straceBin, tmp, until } from './helpers.js';

/** strace's arguments that refuse ns-clone's statx(2) with `errno` (EPERM: as a seccomp filter does) (its own thread: no -f). */
const statxRefused = (errno: string) => ['-qq', '-o', '/dev/null', '-e', 'trace=statx', '-e', `inject=statx:error=${errno}`];

/**
 * ns-clone under `strace` refusing its statx with `errno`, with a state dir of its own in a fresh dir (`what`):
 * `held` starts a detached --wait-for-setup child (its command writes DIR/ran; `args`: more options) and runs
 * `body` with it (pinned, killed after); `releaseRuns` releases it by pid and waits for its command to run.
 */
function refusing(strace: string, errno: string, what: string) {
  const dir = tmp(what);
  const state = join(dir, 'state');
  const records = join(state, 'ns-clone');
  const ran = join(dir, 'ran');
  const ns = (args: string[]) => execa(strace, [...statxRefused(errno), binPath('ns-clone'), ...args], { reject: false, env: { BOXKIT_STATE_DIR: state } });
  return {
    dir, records, ns,
    async held(args: string[], body: (doc: { pid: number; setupFifo: string; record: string }) => Promise<void>): Promise<void> {
      const a = await ns(['-d', '--wait-for-setup', '--json', ...args, '--uts', '--', 'sh', '-c', `echo ran > ${ran}`]);
      expect(a.exitCode, String(a.stderr)).toBe(0);
      const doc = JSON.parse(String(a.stdout)) as { pid: number; setupFifo: string };
      const held: Pinned = pin(doc.pid);
      try {
        await body({ ...doc, record: join(records, `${doc.pid}.fifo-path`) });
      } finally {
        signalPinned(held, 'SIGKILL');
      }
    },
    async releaseRuns(pid: number): Promise<void> {
      const r = await ns(['release', String(pid)]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      await until(() => existsSync(ran) && readFileSync(ran, 'utf8') === 'ran\n', 5000, 'the released command to run');
    },
  };
}

describe.skipIf(skipReason)(`ns-clone setup fifo birth time${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("where statx is refused (EPERM, as a seccomp filter), a held child whose fifo was chmod'ed after its start is released by `release PID` and runs its command (its record was dropped: the fifo's change time was taken for its birth time)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const t = refusing(strace, 'EPERM', 'birth-time');
    await t.held([], async ({ pid, setupFifo, record }) => {
      // the record noted no birth time: the kernel gave none it vouches for
      const rec = JSON.parse(readFileSync(record, 'utf8')) as { birth?: string };
      expect.soft(rec.birth).toBeUndefined();
      // a change of the fifo's inode after its start (its change time moves; its birth does not)
      await new Promise((r) => setTimeout(r, 20));
      chmodSync(setupFifo, 0o620);
      await t.releaseRuns(pid);
      expect(readdirSync(t.records)).toEqual([]);
    });
  });

  it.for(['EOPNOTSUPP', 'EINVAL'])("where statx is refused with %s (Node's stat falls back to stat(2) on it too), a --wait-for-setup start runs, its record noting no birth time, and `release PID` runs its command (the start failed: 125, 'statx ...: operation not supported')", async (errno, ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const t = refusing(strace, errno, `birth-time-${errno.toLowerCase()}`);
    await t.held([], async ({ pid, record }) => {
      const rec = JSON.parse(readFileSync(record, 'utf8')) as { birth?: string; ino?: unknown };
      expect.soft(rec.ino).toBeDefined();
      expect.soft(rec.birth).toBeUndefined();
      await t.releaseRuns(pid);
      expect(readdirSync(t.records)).toEqual([]);
    });
  });

  it("where statx is refused (EPERM), a held child whose record an older ns-clone wrote (its birth: Node's birthtime, the change time there) is released by `release PID` and runs its command (no birth time now: 'no such fifo', exit 2, the record dropped)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const t = refusing(strace, 'EPERM', 'birth-time-old-record');
    await t.held([], async ({ pid, setupFifo, record }) => {
      // the record as an older ns-clone wrote it there: Node's stat, statx refused, gave the change time as birthtimeNs
      const rec = JSON.parse(readFileSync(record, 'utf8')) as Record<string, unknown>;
      writeFileSync(record, JSON.stringify({ ...rec, birth: String(statSync(setupFifo, { bigint: true }).ctimeNs) }));
      await t.releaseRuns(pid);
      expect(readdirSync(t.records)).toEqual([]);
    });
  });

  it("where statx is refused (EPERM), a start given a fifo path (--setup-fifo) where the file system gives the inode number just freed removes a record naming that path with a birth time, its child gone: a `release` of that record's pid would take the new fifo for its own and remove it (the new child held forever)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    // (ext4 gives the number just freed most times, not always: a few tries)
    for (let attempt = 0; attempt < 5; attempt++) {
      const t = refusing(strace, 'EPERM', 'birth-time-path-again');
      const fifo = join(t.dir, 'setup.fifo');
      // an earlier start's record naming the path, its birth noted (an older ns-clone, or statx then allowed), its
      // child gone and its fifo removed (released by hand, then ended)
      mkdirSync(t.records, { recursive: true });
      execFileSync('mkfifo', [fifo]);
      const old = statSync(fifo, { bigint: true });
      const gonePid = spawnSync('true').pid!;
      writeFileSync(join(t.records, `${gonePid}.fifo-path`), JSON.stringify({ fifo, dev: Number(old.dev), ino: Number(old.ino), birth: String(old.birthtimeNs) }));
      unlinkSync(fifo);
      let reused = false;
      await t.held([`--setup-fifo=${fifo}`], async ({ pid }) => {
        if (statSync(fifo, { bigint: true }).ino !== old.ino) return;
        reused = true;
        // removed by the start (its inode noted, its fifo gone: this one has the number now)
        expect(existsSync(join(t.records, `${gonePid}.fifo-path`))).toBe(false);
        const r = await t.ns(['release', String(gonePid)]);
        expect.soft(r.exitCode, String(r.stderr)).toBe(2);
        expect(existsSync(fifo)).toBe(true);
        await t.releaseRuns(pid);
      });
      if (reused) return;
    }
    ctx.skip('this file system did not give the inode number again');
  });

  it("where statx is refused (EPERM), `release PID` of a start (where statx works) whose fifo was read and whose --setup-fifo path a later start has used, given the freed inode number, refuses: exit 2, 'cannot tell whether FIFO is process N's', its record kept, the later start's child still held (it released that child: the record's device and inode alone matched); the later start's own child, its fifo's change time still its birth time, is released", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    // (ext4 gives the number just freed most times, not always: a few tries)
    for (let attempt = 0; attempt < 5; attempt++) {
      const dir = tmp('birth-time-other-start');
      const state = join(dir, 'state');
      const records = join(state, 'ns-clone');
      const fifo = join(dir, 'p.fifo');
      const ranB = join(dir, 'ranB');
      const env = { BOXKIT_STATE_DIR: state };
      const allowed = (args: string[]) => execa(binPath('ns-clone'), args, { reject: false, env });
      const refused = (args: string[]) => execa(strace, [...statxRefused('EPERM'), binPath('ns-clone'), ...args], { reject: false, env });
      const start = async (cmd: string[]): Promise<Pinned> => {
        const r = await allowed(['-d', '--wait-for-setup', '--json', `--setup-fifo=${fifo}`, '--uts', '--', ...cmd]);
        expect(r.exitCode, String(r.stderr)).toBe(0);
        return pin((JSON.parse(String(r.stdout)) as { pid: number }).pid);
      };
      const a = await start(['sleep', '30']);
      let b: Pinned | undefined;
      try {
        const inoA = statSync(fifo, { bigint: true }).ino;
        // A released by hand: its child runs, removes the fifo, and its record stays
        writeFileSync(fifo, '\n');
        await until(() => !existsSync(fifo), 5000, "A's child to remove its fifo");
        b = await start(['sh', '-c', `echo ran > ${ranB}; exec sleep 30`]);
        if (statSync(fifo, { bigint: true }).ino !== inoA) continue;
        const r = await refused(['release', String(a.pid)]);
        expect.soft(String(r.stderr)).toContain(`cannot tell whether ${fifo} is process ${a.pid}'s: statx is refused here`);
        expect(r.exitCode, String(r.stderr)).toBe(2);
        expect(existsSync(join(records, `${a.pid}.fifo-path`))).toBe(true);
        await new Promise((res) => setTimeout(res, 200));
        expect(existsSync(ranB)).toBe(false);
        expect(existsSync(fifo)).toBe(true);
        // B's own record, its fifo unchanged: the change time proves it
        const rb = await refused(['release', String(b.pid)]);
        expect(rb.exitCode, String(rb.stderr)).toBe(0);
        await until(() => existsSync(ranB) && readFileSync(ranB, 'utf8') === 'ran\n', 5000, "B's released command to run");
        return;
      } finally {
        signalPinned(a, 'SIGKILL');
        if (b) signalPinned(b, 'SIGKILL');
      }
    }
    ctx.skip('this file system did not give the inode number again');
  });

  it("where statx is refused (EPERM), `release PID` of a start made where statx works, its fifo chmod'ed since (its change time no longer its birth time), refuses and keeps the record (no telling it from another start's fifo given its inode number); where statx works the same release runs the command", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const dir = tmp('birth-time-chmod-unproven');
    const state = join(dir, 'state');
    const ran = join(dir, 'ran');
    const env = { BOXKIT_STATE_DIR: state };
    const a = await execa(binPath('ns-clone'), ['-d', '--wait-for-setup', '--json', '--uts', '--', 'sh', '-c', `echo ran > ${ran}`], { reject: false, env });
    expect(a.exitCode, String(a.stderr)).toBe(0);
    const doc = JSON.parse(String(a.stdout)) as { pid: number; setupFifo: string };
    const held = pin(doc.pid);
    try {
      const record = join(state, 'ns-clone', `${doc.pid}.fifo-path`);
      expect((JSON.parse(readFileSync(record, 'utf8')) as { btime?: string }).btime).toBeDefined();
      await new Promise((r) => setTimeout(r, 20));
      chmodSync(doc.setupFifo, 0o620);
      const r = await execa(strace, [...statxRefused('EPERM'), binPath('ns-clone'), 'release', String(doc.pid)], { reject: false, env });
      expect.soft(String(r.stderr)).toContain(`cannot tell whether ${doc.setupFifo} is process ${doc.pid}'s: statx is refused here`);
      expect(r.exitCode, String(r.stderr)).toBe(2);
      expect(existsSync(record)).toBe(true);
      expect(existsSync(doc.setupFifo)).toBe(true);
      const ok = await execa(binPath('ns-clone'), ['release', String(doc.pid)], { reject: false, env });
      expect(ok.exitCode, String(ok.stderr)).toBe(0);
      await until(() => existsSync(ran) && readFileSync(ran, 'utf8') === 'ran\n', 5000, 'the released command to run');
      expect(existsSync(record)).toBe(false);
    } finally {
      signalPinned(held, 'SIGKILL');
    }
  });
});
