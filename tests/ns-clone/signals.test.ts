/** PID 1, signal forwarding, stop timeout, orphan reaping and exit statuses. */
import { describe, expect, it } from 'vitest';
import { execa } from 'execa';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { busyboxRootfs, skipReason } from '../harness/index.js';
import { alive, binPath, childrenOf, ns, tmp, until } from './helpers.js';

/** Start ns-clone in the background and wait until its container runs CMD. */
async function startBackground(args: string[], cmdName: string) {
  const env = { ...process.env };
  delete env.NODE_EXTRA_CA_CERTS;
  const proc = execa(binPath('ns-clone'), args, { reject: false, env });
  const comm = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  // ns-clone -> (boxkit-init ->) CMD
  const descendants = (pid: number): number[] => childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
  await until(() => proc.pid !== undefined && descendants(proc.pid).some((p) => comm(p) === cmdName), 10_000, `${cmdName} to start`);
  return { proc }; // not the subprocess itself: it is a thenable, and would be awaited
}

describe.skipIf(skipReason)(`ns-clone signals and exit codes${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('SIGTERM stops a PID 1 without handlers: SIGKILL after the stop timeout (137)', async () => {
    const { proc } = await startBackground(['--pid', '--stop-timeout', '2', '--', 'sleep', '1000'], 'sleep');
    const t0 = Date.now();
    proc.kill('SIGTERM');
    const r = await proc;
    const took = Date.now() - t0;
    expect(r.exitCode).toBe(137);
    expect(took).toBeGreaterThanOrEqual(1800);
    expect(took).toBeLessThan(8000);
    expect(r.stderr).toContain('sending SIGKILL');
  });

  it('with --init, SIGTERM is forwarded to CMD and stops it at once (143)', async () => {
    const { proc } = await startBackground(['--init', '--stop-timeout', '20', '--', 'sleep', '1000'], 'sleep');
    const t0 = Date.now();
    proc.kill('SIGTERM');
    const r = await proc;
    expect(r.exitCode).toBe(143);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('forwards other signals (SIGUSR1 kills a sleep: 138)', async () => {
    const { proc } = await startBackground(['--uts', '--', 'sleep', '1000'], 'sleep');
    proc.kill('SIGUSR1');
    expect((await proc).exitCode).toBe(138);
  });

  it('a container dies with a killed ns-clone, also after switching to another uid (which clears the parent-death signal)', async () => {
    for (const args of [['--pid', '--', 'sleep', '1000'], ['--pid', '--uid', '65534', '--gid', '65534', '--', 'sleep', '1000'], ['--pid', '--init', '--uid', '65534', '--gid', '65534', '--', 'sleep', '1000']]) {
      const { proc } = await startBackground(args, 'sleep');
      const descendants = (pid: number): number[] => childrenOf(pid).flatMap((c) => [c, ...descendants(c)]);
      const inside = descendants(proc.pid!);
      expect(inside.length, args.join(' ')).toBeGreaterThan(0);
      proc.kill('SIGKILL'); // (not process.kill(proc.pid): once reaped, its pid may be another's)
      await until(() => inside.every((p) => !alive(p)), 5000, `the container of a killed ns-clone ${args.join(' ')} to die`);
    }
  });

  it('with --init an orphaned grandchild is reaped (no zombie)', async () => {
    // the grandchild's parent exits at once; the grandchild becomes PID 1's child and exits after 0.2 s
    const script = '(sleep 0.2 &); sleep 1; for s in /proc/[0-9]*/stat; do read l < $s; echo "$l"; done';
    const r = await ns(['--init', '--mount', '--', 'sh', '-c', script]);
    expect(r.exitCode, r.stderr).toBe(0);
    const states = r.stdout.split('\n').map((l) => l.replace(/^.*\) /, '')[0]);
    expect(states.length).toBeGreaterThanOrEqual(2);
    expect(states).not.toContain('Z');
  });

  it('with --init the command finds PID 1 named boxkit-init from its first instruction (30 starts)', async () => {
    // the init used to name itself after the fork: one start in six, the command read "bk-stage"
    const seen = new Set<string>();
    for (let i = 0; i < 30; i++) {
      const r = await ns(['--pid', '--mount', '--init', '--', 'cat', '/proc/1/comm']);
      expect(r.exitCode, r.stderr).toBe(0);
      seen.add(r.stdout);
    }
    expect([...seen]).toEqual(['boxkit-init']);
  });

  it('exit statuses: 0, 42, 137, 127, 126, 125', async () => {
    expect((await ns(['--pid', '--', 'true'])).exitCode).toBe(0);
    expect((await ns(['--pid', '--', 'sh', '-c', 'exit 42'])).exitCode).toBe(42);
    expect((await ns(['--uts', '--', 'sh', '-c', 'kill -KILL $$'])).exitCode).toBe(137);
    const nf = await ns(['--pid', '--', 'no-such-command-boxkit']);
    expect(nf.exitCode).toBe(127);
    expect(nf.stderr).toBe('ns-clone: exec no-such-command-boxkit: command not found');
    const file = join(tmp('noexec'), 'script');
    writeFileSync(file, '#!/bin/sh\necho hi\n');
    chmodSync(file, 0o644);
    const ne = await ns(['--pid', '--', file]);
    expect(ne.exitCode).toBe(126);
    expect(ne.stderr).toMatch(/^ns-clone: exec .*script: permission denied/);
    const rootfs = busyboxRootfs();
    const missing = await ns(['--root', rootfs, '--', '/bin/no-such-program']);
    expect(missing.exitCode).toBe(127);
    const bad = await ns(['--pid', '--root', '/nonexistent-root', '--', '/bin/sh']);
    expect(bad.exitCode).toBe(125);
    // a setup step that fails names the step
    const step = await ns(['--mount', '--wd', '/nonexistent-dir', '--', 'true']);
    expect(step.exitCode).toBe(125);
    expect(step.stderr).toMatch(/^ns-clone: setup step \d+ failed: chdir \/nonexistent-dir: no such file or directory/);
  });
});
