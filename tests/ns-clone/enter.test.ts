/** `ns-clone enter` as an nsenter user types it. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { skipReason } from '../harness/index.js';
import { killAndWait, ns } from './helpers.js';

describe.skipIf(skipReason)(`ns-clone enter${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('--user for a process in our own user namespace is skipped, as nsenter --all skips it: setns refuses to re-enter it (it failed with "setup step 1 failed: setns-fd: invalid argument", exit 125)', async () => {
    const d = await ns(['--detach', '--hostname', 'same-userns', '--', 'sleep', '60']);
    expect(d.exitCode, d.stderr).toBe(0);
    const pid = Number(d.stdout);
    try {
      // what --user asks for already holds: this is the process's user namespace
      expect(readlinkSync(`/proc/${pid}/ns/user`)).toBe(readlinkSync('/proc/self/ns/user'));
      const r = await ns(['enter', String(pid), '--user', '--uts', '--', 'sh', '-c', 'hostname; id -u']);
      expect(r.stderr).toBe('');
      expect(r.exitCode).toBe(0);
      expect(r.stdout.split('\n')).toEqual(['same-userns', '0']);
      // --user alone: nothing is left to enter, said as such
      const only = await ns(['enter', String(pid), '--user', '--', 'true']);
      expect(only.exitCode).toBe(125);
      expect(only.stderr.split('\n')[0]).toBe(`ns-clone: process ${pid} is in this user namespace already: nothing to enter`);
    } finally {
      await killAndWait(pid);
    }
  });

  it('--dry-run prints an nsenter line that, pasted into sh, does what the enter does: the command quoted, --wd, --uid/--gid and --setenv kept (it printed `sh -c echo $A`, run in the caller\'s directory as root, without A)', async () => {
    const d = await ns(['--detach', '--hostname', 'dry-enter', '--uts', '--', 'sleep', '60']);
    expect(d.exitCode, d.stderr).toBe(0);
    const pid = Number(d.stdout);
    try {
      const args = ['enter', String(pid), '--uts', '--wd', '/tmp', '--uid', '5', '--gid', '6', '--setenv', 'A=x y', '--', 'sh', '-c', 'echo "$A|$(hostname)|$(pwd)|$(id -u):$(id -g)"'];
      const real = await ns(args);
      expect(real.exitCode, real.stderr).toBe(0);
      expect(real.stdout).toBe('x y|dry-enter|/tmp|5:6');
      const dry = await ns([...args.slice(0, -4), '--dry-run', ...args.slice(-4)]);
      expect(dry.exitCode, dry.stderr).toBe(0);
      expect(dry.stdout.split('\n')).toHaveLength(1);
      expect(execFileSync('sh', ['-ec', dry.stdout], { encoding: 'utf8', cwd: '/' }).trimEnd()).toBe(real.stdout);
    } finally {
      await killAndWait(pid);
    }
  });
});
