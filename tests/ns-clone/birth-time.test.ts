/**
 * A held child's record notes its fifo's birth time, as statx(2) gives it
 * with STATX_BTIME in its mask. Where statx is refused (a seccomp filter:
 * EPERM, injected here by strace), Node's stat falls back to stat(2) and
 * reports the change time as birth time: a chmod of the fifo (to let
 * another user release the child) moved it, and `release PID` took the
 * fifo for another's, dropped the record and failed.
 */
import { describe, expect, it } from 'vitest';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { pin, signalPinned, skipReason, type Pinned } from '../harness/index.js';
import { binPath, straceBin, tmp, until } from './helpers.js';

/** strace's arguments that refuse ns-clone's statx(2) with `errno` (EPERM: as a seccomp filter does) (its own thread: no -f). */
const statxRefused = (errno: string) => ['-qq', '-o', '/dev/null', '-e', 'trace=statx', '-e', `inject=statx:error=${errno}`];
const noStatx = statxRefused('EPERM');

describe.skipIf(skipReason)(`ns-clone setup fifo birth time${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("where statx is refused (EPERM, as a seccomp filter), a held child whose fifo was chmod'ed after its start is released by `release PID` and runs its command (its record was dropped: the fifo's change time was taken for its birth time)", async (ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const dir = tmp('birth-time');
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    const ran = join(dir, 'ran');
    const ns = (args: string[]) => execa(strace, [...noStatx, binPath('ns-clone'), ...args], { reject: false, env });
    const a = await ns(['-d', '--wait-for-setup', '--json', '--uts', '--', 'sh', '-c', `echo ran > ${ran}`]);
    expect(a.exitCode, String(a.stderr)).toBe(0);
    const doc = JSON.parse(String(a.stdout)) as { pid: number; setupFifo: string };
    const held: Pinned = pin(doc.pid);
    try {
      // the record noted no birth time: the kernel gave none it vouches for
      const rec = JSON.parse(readFileSync(join(dir, 'state', 'ns-clone', `${doc.pid}.fifo-path`), 'utf8')) as { birth?: string };
      expect.soft(rec.birth).toBeUndefined();
      // a change of the fifo's inode after its start (its change time moves; its birth does not)
      await new Promise((r) => setTimeout(r, 20));
      chmodSync(doc.setupFifo, 0o620);
      const r = await ns(['release', String(doc.pid)]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      await until(() => existsSync(ran) && readFileSync(ran, 'utf8') === 'ran\n', 5000, 'the released command to run');
      expect(readdirSync(join(dir, 'state', 'ns-clone'))).toEqual([]);
    } finally {
      signalPinned(held, 'SIGKILL');
    }
  });

  it.each(['EOPNOTSUPP', 'EINVAL'])("where statx is refused with %s (Node's stat falls back to stat(2) on it too), a --wait-for-setup start runs, its record noting no birth time, and `release PID` runs its command (the start failed: 125, 'statx ...: operation not supported')", async (errno, ctx) => {
    const strace = straceBin();
    if (!strace) return ctx.skip();
    const dir = tmp(`birth-time-${errno.toLowerCase()}`);
    const env = { BOXKIT_STATE_DIR: join(dir, 'state') };
    const ran = join(dir, 'ran');
    const ns = (args: string[]) => execa(strace, [...statxRefused(errno), binPath('ns-clone'), ...args], { reject: false, env });
    const a = await ns(['-d', '--wait-for-setup', '--json', '--uts', '--', 'sh', '-c', `echo ran > ${ran}`]);
    expect(a.exitCode, String(a.stderr)).toBe(0);
    const doc = JSON.parse(String(a.stdout)) as { pid: number; setupFifo: string };
    const held: Pinned = pin(doc.pid);
    try {
      const rec = JSON.parse(readFileSync(join(dir, 'state', 'ns-clone', `${doc.pid}.fifo-path`), 'utf8')) as { birth?: string; ino?: unknown };
      expect.soft(rec.ino).toBeDefined();
      expect.soft(rec.birth).toBeUndefined();
      const r = await ns(['release', String(doc.pid)]);
      expect(r.exitCode, String(r.stderr)).toBe(0);
      await until(() => existsSync(ran) && readFileSync(ran, 'utf8') === 'ran\n', 5000, 'the released command to run');
      expect(readdirSync(join(dir, 'state', 'ns-clone'))).toEqual([]);
    } finally {
      signalPinned(held, 'SIGKILL');
    }
  });
});
