import { describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { isPinned, pin, signalGroupOf, signalPinned, startTime, unreaped } from './signal.js';
import { skipReason } from './env.js';

const exited = (c: ReturnType<typeof spawn>) => new Promise<NodeJS.Signals | number | null>((r) => c.once('exit', (code, sig) => r(sig ?? code)));

describe.skipIf(skipReason)(`signalling a pinned pid${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('signals the process a pid was pinned to, and nothing once the pid names a process of another start time', async () => {
    const a = spawn('sleep', ['30'], { stdio: 'ignore' });
    const end = exited(a);
    const p = pin(a.pid!);
    expect(p.start).toBeGreaterThan(0);
    expect(isPinned(p)).toBe(true);
    // the same pid, another start time: as when the pid was given to a later process, which is left alone
    const later = { pid: p.pid, start: p.start + 1 };
    expect(isPinned(later)).toBe(false);
    expect(signalPinned(later, 'SIGKILL')).toBe(false);
    await new Promise((r) => setTimeout(r, 100));
    expect(unreaped(a)).toBe(true);
    expect(startTime(a.pid!)).toBe(p.start);
    // its own: killed
    expect(signalPinned(p, 'SIGKILL')).toBe(true);
    expect(await end).toBe('SIGKILL');
    // reaped: its pid names nothing (or another process), nothing is sent
    expect(unreaped(a)).toBe(false);
    expect(signalPinned(p, 'SIGKILL')).toBe(false);
    expect(() => pin(0)).toThrow(/not a pid/); // (kill(0) would signal the test's own process group)
  });

  it("signals a child's process group only while the child (its leader) is unreaped", async () => {
    const sh = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore', detached: true });
    const end = exited(sh);
    await new Promise((r) => setTimeout(r, 100));
    expect(signalGroupOf(sh, 'SIGKILL')).toBe(true);
    expect(await end).toBe('SIGKILL');
    expect(signalGroupOf(sh, 'SIGKILL')).toBe(false);
  });
});
