/**
 * tryLockSync / tryLockUntilSync against the kernel's flock(2): a lock held
 * on another open file of the path (as another process's would be) is never
 * waited on past the deadline, a symlink at the lock's path is refused, and
 * a lock file someone made wider is narrowed to 0600.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { chmodSync, closeSync, existsSync, mkdtempSync, openSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { flock, LOCK } from '@boxkit/native';
import { lockHolder as lockHolderFn, tryLockSync, tryLockUntilSync } from '../src/state.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bk-trylock-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Hold the flock of `path` on an open file of its own (another open file description: it conflicts as another process's would). */
function hold(path: string): () => void {
  const fd = openSync(path, 'a', 0o600);
  flock(fd, LOCK.EX | LOCK.NB, path);
  return () => closeSync(fd);
}

describe('tryLockSync', () => {
  it('runs fn under the lock (made 0600) and lets go of it after', () => {
    const lock = join(dir, '.lock');
    expect(tryLockSync(lock, () => 42)).toEqual({ value: 42 });
    expect(statSync(lock).mode & 0o777).toBe(0o600);
    hold(lock)(); // free again: taken at once
  });

  it('held by another (EWOULDBLOCK): undefined, fn not run, no wait', () => {
    const lock = join(dir, '.lock');
    const release = hold(lock);
    try {
      let ran = false;
      const t = Date.now();
      expect(tryLockSync(lock, () => (ran = true))).toBeUndefined();
      expect(ran).toBe(false);
      expect(Date.now() - t).toBeLessThan(500);
    } finally {
      release();
    }
    expect(tryLockSync(lock, () => 'free')).toEqual({ value: 'free' });
  });

  it('a symlink at the lock path is refused (ELOOP), and what it points at is not made', () => {
    const lock = join(dir, '.lock');
    const target = join(dir, 'elsewhere');
    symlinkSync(target, lock);
    expect(() => tryLockSync(lock, () => 1)).toThrow(expect.objectContaining({ code: 'ELOOP' }));
    expect(existsSync(target)).toBe(false);
  });

  it('a 0644 lock file (made by someone\'s flock(1)) is narrowed to 0600', () => {
    const lock = join(dir, '.lock');
    writeFileSync(lock, '');
    chmodSync(lock, 0o644);
    expect(tryLockSync(lock, () => true)).toEqual({ value: true });
    expect(statSync(lock).mode & 0o777).toBe(0o600);
  });
});

describe('tryLockUntilSync', () => {
  it('held past the deadline: undefined after the deadline, and onWait said once past its notice', () => {
    const lock = join(dir, '.lock');
    const release = hold(lock);
    try {
      let waits = 0;
      const t = Date.now();
      expect(tryLockUntilSync(lock, t + 400, () => 1, () => waits++, 100)).toBeUndefined();
      expect(Date.now() - t).toBeGreaterThanOrEqual(390);
      expect(waits).toBe(1);
    } finally {
      release();
    }
  });

  it('free: taken at once, onWait never called', () => {
    let waits = 0;
    expect(tryLockUntilSync(join(dir, '.lock'), Date.now() + 5000, () => 'x', () => waits++, 0)).toEqual({ value: 'x' });
    expect(waits).toBe(0);
  });
});

describe('withLock under lockWaits (a foreground run\'s teardown)', () => {
  /** A flock(1) process holding `path` until stopped (with the sleep it runs, which holds the lock too); resolves once it holds it. */
  async function holder(path: string): Promise<{ pid: number; stop(): void }> {
    const { spawn } = await import('node:child_process');
    const c = spawn('flock', [path, 'sleep', '30'], { stdio: 'ignore', detached: true });
    const stop = () => {
      try {
        process.kill(-c.pid!, 'SIGKILL');
      } catch {
        // gone
      }
    };
    for (let i = 0; i < 200; i++) {
      const fd = openSync(path, 'a', 0o600);
      try {
        flock(fd, LOCK.EX | LOCK.NB, path);
      } catch {
        return { pid: c.pid!, stop };
      } finally {
        closeSync(fd);
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    stop();
    throw new Error('flock(1) never took the lock');
  }

  it('names the holder after 1 s, lets timers and signal handlers run meanwhile, and gives up when aborted', async () => {
    const { lockWaits, withLock } = await import('../src/state.js');
    const lock = join(dir, '.lock');
    const h = await holder(lock);
    const ac = new AbortController();
    const told: [string, number | undefined][] = [];
    lockWaits({ signal: ac.signal, onWait: (p, pid) => told.push([p, pid]), stopped: (p, pid) => new Error(`stop waiting for ${p} (${pid})`) });
    try {
      let ticks = 0;
      const tick = setInterval(() => ticks++, 50);
      setTimeout(() => ac.abort(), 1400);
      let ran = false;
      await expect(withLock(lock, () => (ran = true))).rejects.toThrow(`stop waiting for ${lock} (${h.pid})`);
      clearInterval(tick);
      expect(ran).toBe(false);
      expect(told).toEqual([[lock, h.pid]]);
      // (the event loop turned throughout: a blocking flock(2) would have let no timer run)
      expect(ticks).toBeGreaterThan(10);
      // aborted: a later wait for a held lock gives up at once, naming its own lock; a free lock is taken
      const other = join(dir, '.other.lock');
      const h2 = await holder(other);
      const t = Date.now();
      await expect(withLock(other, () => 1)).rejects.toThrow(`stop waiting for ${other} (${h2.pid})`);
      h2.stop();
      expect(Date.now() - t).toBeLessThan(500);
      h.stop();
      for (let i = 0; i < 100 && lockHolderOf(lock) !== undefined; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await withLock(lock, () => 'free')).toBe('free');
    } finally {
      lockWaits(undefined);
      h.stop();
    }
  });

  it('a short wait ends within a few ms of its holder\'s release (tried again after 1, 2, 4 ... ms: every 20 ms it took 20 ms or more)', async () => {
    const { lockWaits, withLock } = await import('../src/state.js');
    const lock = join(dir, '.lock');
    lockWaits({ signal: new AbortController().signal, onWait: () => undefined, stopped: () => new Error('stopped') });
    try {
      // held on another open file (as another process's lock), let go 5 ms into the wait; the quickest of 5 rounds
      const took: number[] = [];
      for (let i = 0; i < 5; i++) {
        const release = hold(lock);
        const t = performance.now();
        setTimeout(release, 5);
        await withLock(lock, () => undefined);
        took.push(performance.now() - t);
      }
      expect(Math.min(...took), String(took)).toBeLessThan(15);
    } finally {
      lockWaits(undefined);
    }
  });

  it('a wait that ends with the lock held says so (onWaitEnd), and fn runs', async () => {
    const { lockWaits, withLock } = await import('../src/state.js');
    const lock = join(dir, '.lock');
    const h = await holder(lock);
    const seen: string[] = [];
    lockWaits({ signal: new AbortController().signal, onWait: () => seen.push('wait'), onWaitEnd: () => seen.push('end'), stopped: () => new Error('stopped') });
    try {
      setTimeout(() => h.stop(), 1300);
      expect(await withLock(lock, () => 'held')).toBe('held');
      expect(seen).toEqual(['wait', 'end']);
    } finally {
      lockWaits(undefined);
      h.stop();
    }
  });
});

/** lockHolder of `path` through a file of its own. */
function lockHolderOf(path: string): number | undefined {
  const fd = openSync(path, 'a', 0o600);
  try {
    return lockHolderFn(fd);
  } finally {
    closeSync(fd);
  }
}
