/**
 * The rarer waits of a foreground container's teardown for a lock another process holds (the build
 * lock of the default rootfs, netsetup's lock to reclaim a lease left without a record): said
 * after 1 s (the lock and its holder), stopped by a Ctrl-C, run ending 128+N with what is left
 * and the command that finishes the job (as its other waits: process.test.ts). They blocked in
 * flock(2), unannounced and deaf to a signal until the lock was free.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bk, skipReason, waitUntil } from '../harness/index.js';
import { BASE, expectRemovalWaitStopped, holdLock, name, ownDirs, startUntilTold } from './helpers.js';

describe.skipIf(skipReason)(`run: a teardown's rarer lock waits${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it("--rm, the last user of a default rootfs tree a rebuild replaced: the wait for the build lock to remove that tree is said after 1 s, and a Ctrl-C stops it: 130, the tree named with the gc that removes it (it blocked in flock(2), unannounced and deaf to a Ctrl-C)", async () => {
    const { env } = ownDirs('sweepwait-');
    const lock = join(env.BOXKIT_DATA_DIR, 'rootfs', '.lock');
    const trees = join(env.BOXKIT_DATA_DIR, 'rootfs');
    const replaced = () => readdirSync(trees).filter((e) => e.startsWith('default.replaced-'));
    const n = name('sweepwait');
    const record = join(env.BOXKIT_STATE_DIR, 'run', 'containers', `${n}.json`);
    let holder: Awaited<ReturnType<typeof holdLock>> | undefined;
    try {
      // on the default rootfs (no --rootfs), rebuilt while it runs: the tree it runs on is kept beside the new one
      const c = await startUntilTold(env, ['--rm', ...BASE, '--name', n], record);
      const rebuilt = await bk('run', ['rootfs', '--default'], { env });
      expect(rebuilt.exitCode, String(rebuilt.stderr)).toBe(0);
      expect(replaced()).toHaveLength(1);
      // the build lock held (as by a `run rootfs --default` at work) when its teardown, its last user's, sweeps that tree
      const h = await holdLock(lock);
      holder = h;
      c.p.stdin!.end('\n');
      await waitUntil('run to say what it waits for', () => c.err().includes('\n'), 30_000);
      expect(c.err()).toBe(`run: ${n} is removed; the removal of the default rootfs tree a rebuild replaced waits for ${lock}, held by pid ${h.pid} (flock): Ctrl-C stops waiting (then run gc removes it)\n`);
      // (the container itself is gone by then: the sweep is its teardown's last step)
      expect(existsSync(record)).toBe(false);
      const t = Date.now();
      c.p.kill('SIGINT');
      expect(await c.exit, c.err()).toBe(130);
      expect(Date.now() - t).toBeLessThan(2000);
      const [tree] = replaced();
      expect(c.err().split('\n').slice(1)).toEqual([
        `run: warning: ${n} is removed, but not the default rootfs tree a rebuild replaced (${join(trees, tree!)}): SIGINT stopped the wait for ${lock}, held by pid ${h.pid} (flock)`,
        'hint: run gc removes it once that lock is free',
        '',
      ]);
      // once the lock is free, the gc it names removes the tree
      h.stdin!.end();
      await new Promise((r) => h.once('exit', r));
      const gc = await bk('run', ['gc'], { env });
      expect(gc.exitCode, String(gc.stderr)).toBe(0);
      expect(replaced()).toEqual([]);
      expect(readdirSync(trees).filter((e) => e !== '.lock')).toEqual(['default']);
    } finally {
      holder?.stdin!.end();
      await bk('run', ['rm', '-f', n], { env });
    }
  });

  it("--rm, not the last user of a default rootfs tree a rebuild replaced (a -d container still runs on it): its teardown neither waits for the build lock nor names that tree", async () => {
    const { env } = ownDirs('sweepnowait-');
    const lock = join(env.BOXKIT_DATA_DIR, 'rootfs', '.lock');
    const trees = join(env.BOXKIT_DATA_DIR, 'rootfs');
    const replaced = () => readdirSync(trees).filter((e) => e.startsWith('default.replaced-'));
    const [older, n] = [name('sweepnowait-d'), name('sweepnowait')];
    const record = join(env.BOXKIT_STATE_DIR, 'run', 'containers', `${n}.json`);
    let holder: Awaited<ReturnType<typeof holdLock>> | undefined;
    try {
      const d = await bk('run', ['-d', ...BASE, '--name', older, '--', 'sleep', '100'], { env });
      expect(d.exitCode, String(d.stderr)).toBe(0);
      const rebuilt = await bk('run', ['rootfs', '--default'], { env });
      expect(rebuilt.exitCode, String(rebuilt.stderr)).toBe(0);
      expect(replaced()).toHaveLength(1);
      // a foreground --rm on the new tree, ending while the build lock is held: the -d container keeps the old tree
      const c = await startUntilTold(env, ['--rm', ...BASE, '--name', n], record);
      holder = await holdLock(lock);
      c.p.stdin!.end('\n');
      expect(await c.exit, c.err()).toBe(0);
      expect(c.err()).toBe('');
      expect(replaced()).toHaveLength(1);
    } finally {
      holder?.stdin!.end();
      await bk('run', ['rm', '-f', n], { env });
      await bk('run', ['rm', '-f', older], { env });
    }
  });

  it("--rm on a bridge, its veth with no netsetup record (netsetup down while it ran): the wait for netsetup's lock to reclaim a lease left without one is said after 1 s, and a Ctrl-C stops it: 130, what is left named with the rm that removes it (it blocked in flock(2), unannounced and deaf to a Ctrl-C)", async () => {
    const { env } = ownDirs('reclaimwait-');
    const br = `bkrecl${process.pid % 10000}`;
    const lock = join(env.BOXKIT_STATE_DIR, 'netsetup', 'store.lock');
    const n = name('reclaimwait');
    const record = join(env.BOXKIT_STATE_DIR, 'run', 'containers', `${n}.json`);
    // its teardown's `down` finds no record under the store lock, then takes it again to reclaim the lease such a name may have
    // left: paused (SIGSTOP) between the two, while the lock is taken here (as by another netsetup's cleanup at work)
    const paused = { ...env, BOXKIT_NETSETUP_CRASH_AT: 'reclaim', BOXKIT_NETSETUP_CRASH_SIGNAL: 'SIGSTOP' };
    const state = (pid: number) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]![0];
    let holder: Awaited<ReturnType<typeof holdLock>> | undefined;
    let c: Awaited<ReturnType<typeof startUntilTold>> | undefined;
    try {
      const ct = (c = await startUntilTold(paused, ['--rm', ...BASE, '--name', n, '--net', `bridge:${br}`, '--ip', '10.97.3.2/24'], record));
      const veth = (JSON.parse(readFileSync(record, 'utf8')) as { net: { hostVeth: string } }).net.hostVeth;
      const down = await bk('netsetup', ['down', '--host-ifname', veth], { env });
      expect(down.exitCode, String(down.stderr)).toBe(0);
      ct.p.stdin!.end('\n');
      await waitUntil('run to pause before the reclaim', () => state(ct.p.pid!) === 'T', 30_000);
      const h = await holdLock(lock);
      holder = h;
      process.kill(ct.p.pid!, 'SIGCONT');
      await expectRemovalWaitStopped(ct, n, lock, h.pid!);
      // its record stays (the rest went); once the lock is free, the rm it names removes it
      expect(existsSync(record)).toBe(true);
      h.stdin!.end();
      await new Promise((r) => h.once('exit', r));
      const rm = await bk('run', ['rm', '-f', n], { env });
      expect(rm.exitCode, String(rm.stderr)).toBe(0);
      expect(existsSync(record)).toBe(false);
    } finally {
      // (a failure while run was paused must not leave it stopped: our own child, unreaped, so its pid is still its own)
      if (c && c.p.exitCode === null && c.p.signalCode === null) {
        process.kill(c.p.pid!, 'SIGCONT');
        c.p.kill('SIGKILL');
        await c.exit.catch(() => undefined);
      }
      holder?.stdin!.end();
      await bk('run', ['rm', '-f', n], { env });
      await bk('netsetup', ['nat', 'rm', '10.97.3.0/24'], { env });
      await bk('netsetup', ['bridge', 'rm', br], { env });
    }
  });
});
