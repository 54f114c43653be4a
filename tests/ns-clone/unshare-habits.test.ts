/**
 * ns-clone read as unshare is read: its short flags (-p, -u, grouped -fp),
 * -f/--fork, --mount-proc, no namespace flag at all, and --no-new-privs as
 * users spell it. Each asserted by what the kernel shows from inside.
 */
import { describe, expect, it } from 'vitest';
import { readlinkSync } from 'node:fs';
import { pin, signalPinned, skipReason } from '../harness/index.js';
import { ns } from './helpers.js';

const KINDS = ['mnt', 'uts', 'ipc', 'pid', 'net', 'user', 'cgroup'] as const;
/** This process's namespace of each kind, as /proc/self/ns shows it. */
const ours = Object.fromEntries(KINDS.map((k) => [k, readlinkSync(`/proc/self/ns/${k}`)]));
/** A shell line that prints `kind:[inode]` for each kind, then $$ (a pid namespace's CMD is 1). */
const SHOW = `for k in ${KINDS.join(' ')}; do readlink /proc/self/ns/$k; done; echo $$`;

/** Which kinds differ from ours, and the pid CMD saw itself as. */
function inside(stdout: string): { made: string[]; pid: number } {
  const lines = stdout.split('\n');
  const made = KINDS.filter((k, i) => lines[i] !== ours[k]);
  return { made: [...made], pid: Number(lines[KINDS.length]) };
}

describe.skipIf(skipReason)(`ns-clone with unshare's habits${skipReason ? ` (skipped: ${skipReason})` : ''}`, () => {
  it('-p -u make a new PID and UTS namespace (CMD is PID 1), and nothing else', async () => {
    const r = await ns(['-p', '-u', '--', 'sh', '-c', SHOW]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(inside(r.stdout)).toEqual({ made: ['uts', 'pid'], pid: 1 });
  });

  it('-i -n -m, and grouped -fpu with the command as the first non-option word', async () => {
    const r = await ns(['-i', '-n', '-m', 'sh', '-c', SHOW]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(inside(r.stdout).made).toEqual(['mnt', 'ipc', 'net']);
    const g = await ns(['-fpu', 'sh', '-c', SHOW]);
    expect(g.exitCode, g.stderr).toBe(0);
    expect(inside(g.stdout)).toEqual({ made: ['uts', 'pid'], pid: 1 });
  });

  it('--pid --fork (unshare -f) runs as --pid does: CMD is PID 1, its status comes back', async () => {
    const r = await ns(['--pid', '--fork', '--', 'sh', '-c', 'echo $$; exit 7']);
    expect(r.exitCode, r.stderr).toBe(7);
    expect(r.stdout).toBe('1');
  });

  it('unshare -fp --mount-proc: a /proc of the new PID namespace (it implies the mount namespace)', async () => {
    const r = await ns(['-fp', '--mount-proc', '--', 'sh', '-c', `${SHOW}; ls /proc | grep -c '^[0-9]'`]);
    expect(r.exitCode, r.stderr).toBe(0);
    expect(inside(r.stdout)).toEqual({ made: ['mnt', 'pid'], pid: 1 });
    // only sh (and the ls it runs) in that /proc: not the host's processes
    expect(Number(r.stdout.split('\n').at(-1))).toBeLessThanOrEqual(3);
  });

  it('with no namespace flag, CMD runs in our namespaces, as a bare unshare runs it (was exit 125)', async () => {
    const r = await ns(['--', 'sh', '-c', `${SHOW}; exit 3`]);
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(3);
    expect(inside(r.stdout).made).toEqual([]);
    const dry = await ns(['--dry-run', '--', 'true']);
    expect(dry.stdout.split('\n')[0]).toBe("# clone(0) -> PID; the child runs the steps below (no new namespace: CMD runs in ns-clone's own, as with a bare unshare)");
  });

  it('--help lists the short flags and --no-new-privs as users type it', async () => {
    const r = await ns(['--help']);
    expect(r.exitCode).toBe(0);
    for (const [short, long] of [['p', 'pid'], ['u', 'uts'], ['i', 'ipc'], ['m', 'mount'], ['n', 'net'], ['U', 'user'], ['C', 'cgroup'], ['T', 'time'], ['f', 'fork'], ['R', 'root'], ['w', 'wd']]) {
      expect(r.stdout).toMatch(new RegExp(`^\\s+-${short}, --${long}\\b`, 'm'));
    }
    expect(r.stdout).toMatch(/^\s+--no-new-privs\s+set PR_SET_NO_NEW_PRIVS/m);
    expect(r.stdout).not.toMatch(/--new-privs|default: true\]/);
    // both parsers take it: the fast one, and yargs (the fast one declines a number it does not read, 1e1)
    for (const args of [['--no-new-privs'], ['--no-new-privs', '--stop-timeout', '1e1']]) {
      const nnp = await ns([...args, '--', 'grep', 'NoNewPrivs', '/proc/self/status']);
      expect(nnp.exitCode, nnp.stderr).toBe(0);
      expect(nnp.stdout).toMatch(/NoNewPrivs:\s+1/);
    }
  });

  it('enter takes nsenter\'s short flags: -u -n of a running process', async () => {
    const d = await ns(['-d', '-u', '-n', '--hostname', 'entered', '--', 'sleep', '30']);
    expect(d.exitCode, d.stderr).toBe(0);
    const pid = Number(d.stdout);
    const pinned = pin(pid); // (sleep 30 may have ended by the finally)
    try {
      const r = await ns(['enter', String(pid), '-u', '-n', '--', 'sh', '-c', 'hostname; readlink /proc/self/ns/net']);
      expect(r.exitCode, r.stderr).toBe(0);
      expect(r.stdout.split('\n')).toEqual(['entered', readlinkSync(`/proc/${pid}/ns/net`)]);
    } finally {
      signalPinned(pinned);
    }
  });
});
