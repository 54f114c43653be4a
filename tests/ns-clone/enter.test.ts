/** `ns-clone enter` as an nsenter user types it. */
import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pin, skipReason } from '../harness/index.js';
import { killAndWait, ns, tmp, until } from './helpers.js';

describe.skipIf(skipReason)(`ns-clone enter${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('--user for a process in our own user namespace is skipped, as nsenter --all skips it: setns refuses to re-enter it (it failed with "setup step 1 failed: setns-fd: invalid argument", exit 125)', async () => {
    const d = await ns(['--detach', '--hostname', 'same-userns', '--', 'sleep', '60']);
    expect(d.exitCode, d.stderr).toBe(0);
    const pid = Number(d.stdout);
    const pinned = pin(pid);
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
      await killAndWait(pinned);
    }
  });

  it('--dry-run prints an nsenter line that, pasted into sh, does what the enter does: the command quoted, --wd, --uid/--gid, --setenv, --env-clear and --no-new-privs kept (it printed `sh -c echo $A`, run in the caller\'s directory as root, without A); with --mount, --wd is the directory inside (--wdns: --wd=DIR listed the host\'s DIR, not the tmpfs mounted there inside), and setpriv and env run before nsenter (a root without them failed)', async () => {
    const dir = tmp('wd');
    writeFileSync(join(dir, 'outside'), '');
    // inside: a tmpfs on DIR, and no env or setpriv (the pasted line used to run them in the target's root)
    const setup = `mount -t tmpfs t '${dir}' && touch '${dir}/inside' && mount --bind /dev/null /usr/bin/env && mount --bind /dev/null /usr/bin/setpriv && exec sleep 60`;
    const d = await ns(['--detach', '--hostname', 'dry-enter', '--uts', '--mount', '--', 'sh', '-c', setup]);
    expect(d.exitCode, d.stderr).toBe(0);
    const pid = Number(d.stdout);
    const pinned = pin(pid);
    try {
      await until(() => existsSync(`/proc/${pid}/root/usr/bin/setpriv`) && statSync(`/proc/${pid}/root/usr/bin/setpriv`).isCharacterDevice(), 5000, 'the container\'s mounts');
      const args = ['enter', String(pid), '--uts', '--mount', '--wd', dir, '--uid', '5', '--gid', '6', '--setenv', 'A=x y', '--env-clear', '--no-new-privs', '--', 'sh', '-c', 'echo "$A|$(hostname)|$(pwd)|$(id -u):$(id -g)|$(ls)|$(grep NoNewPrivs /proc/self/status | tr -d \'\\t\')|${HOME-unset}"'];
      const real = await ns(args);
      expect(real.exitCode, real.stderr).toBe(0);
      expect(real.stdout).toBe(`x y|dry-enter|${dir}|5:6|inside|NoNewPrivs:1|unset`);
      const dry = await ns([...args.slice(0, -4), '--dry-run', ...args.slice(-4)]);
      expect(dry.exitCode, dry.stderr).toBe(0);
      expect(dry.stdout.split('\n')).toHaveLength(1);
      expect(execFileSync('sh', ['-ec', dry.stdout], { encoding: 'utf8', cwd: '/' }).trimEnd()).toBe(real.stdout);
    } finally {
      await killAndWait(pinned);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
