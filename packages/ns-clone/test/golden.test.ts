/**
 * Golden step lists: the exact program planContainer gives the child for a
 * few representative specs, pinned so that a refactor of the rootfs and
 * /dev recipe (shared with run) shows any change in behaviour as a diff here.
 */
import { describe, expect, it } from 'vitest';
import type { Step } from '@boxkit/native';
import { containerSteps } from '../src/plan.js';
import type { ContainerSpec } from '../src/spec.js';

/** One step per line: flags in hex, modes in octal, strings quoted, ' ?' for an optional step. */
function line(s: Step): string {
  const hex = new Set(['MOUNT', 'CAPS', 'UNSHARE', 'SETNS']), oct = new Set(['MKDIR', 'TOUCH']);
  const ints = (s.ints ?? []).map((n) => (hex.has(s.op) ? `0x${n.toString(16)}` : oct.has(s.op) ? `0o${n.toString(8)}` : String(n)));
  return [s.op, ...ints, ...(s.strs ?? []).map((x) => JSON.stringify(x)), ...(s.optional ? ['?'] : [])].join(' ');
}

const env = { PATH: '/bin' };
const euid = process.geteuid?.() ?? 0, egid = process.getegid?.() ?? 0;
const lines = (spec: ContainerSpec) => containerSteps(spec).map(line);

describe('ns-clone: golden container programs', () => {
  it('--root /r --pid --init -- sh (no user namespace: devpts gets gid=5)', () => {
    expect(lines({ namespaces: ['mnt', 'pid'], argv: ['sh'], env, root: '/r', mountProc: true, init: true, foreground: false })).toEqual([
      'WAIT_SYNC',
      'MOUNT 0x44000 "" "/" "" ""',
      'MOUNT 0x5000 "/r" "/r" "" ""',
      'MKDIR 0o555 "/r/proc"',
      'MOUNT 0xe "proc" "/r/proc" "proc" ""',
      'MKDIR 0o755 "/r/dev"',
      'MOUNT 0x1000002 "tmpfs" "/r/dev" "tmpfs" "mode=755,size=65536k"',
      'TOUCH 0o666 "/r/dev/null"',
      'MOUNT 0x1000 "/dev/null" "/r/dev/null" "" ""',
      'TOUCH 0o666 "/r/dev/zero"',
      'MOUNT 0x1000 "/dev/zero" "/r/dev/zero" "" ""',
      'TOUCH 0o666 "/r/dev/full"',
      'MOUNT 0x1000 "/dev/full" "/r/dev/full" "" ""',
      'TOUCH 0o666 "/r/dev/random"',
      'MOUNT 0x1000 "/dev/random" "/r/dev/random" "" ""',
      'TOUCH 0o666 "/r/dev/urandom"',
      'MOUNT 0x1000 "/dev/urandom" "/r/dev/urandom" "" ""',
      'TOUCH 0o666 "/r/dev/tty"',
      'MOUNT 0x1000 "/dev/tty" "/r/dev/tty" "" "" ?',
      'MKDIR 0o755 "/r/dev/pts"',
      'MOUNT 0xa "devpts" "/r/dev/pts" "devpts" "newinstance,ptmxmode=0666,mode=0620,gid=5"',
      'MKDIR 0o1777 "/r/dev/shm"',
      'MOUNT 0xe "shm" "/r/dev/shm" "tmpfs" "mode=1777,size=65536k"',
      'SYMLINK "/proc/self/fd" "/r/dev/fd"',
      'SYMLINK "/proc/self/fd/0" "/r/dev/stdin"',
      'SYMLINK "/proc/self/fd/1" "/r/dev/stdout"',
      'SYMLINK "/proc/self/fd/2" "/r/dev/stderr"',
      'SYMLINK "pts/ptmx" "/r/dev/ptmx"',
      'PIVOT_ROOT "/r"',
      'SUPERVISE 1',
      'CHDIR "/"',
      'RESET_SIGNALS',
      'STDIO_FIX',
      'CLOEXEC_FROM 3',
      'EXEC 1 "sh" "sh" "PATH=/bin"',
    ]);
  });

  it('--user -r --root /r --pid -- sh (a user namespace: no gid=5)', () => {
    const maps = { uidMap: [{ inner: 0, outer: euid, count: 1 }], gidMap: [{ inner: 0, outer: egid, count: 1 }] };
    expect(lines({ namespaces: ['user', 'mnt', 'pid'], argv: ['sh'], env, root: '/r', mountProc: true, ...maps, foreground: false })).toEqual([
      'WAIT_SYNC',
      'MOUNT 0x44000 "" "/" "" ""',
      'MOUNT 0x5000 "/r" "/r" "" ""',
      'MKDIR 0o555 "/r/proc"',
      'MOUNT 0xe "proc" "/r/proc" "proc" ""',
      'MKDIR 0o755 "/r/dev"',
      'MOUNT 0x1000002 "tmpfs" "/r/dev" "tmpfs" "mode=755,size=65536k"',
      'TOUCH 0o666 "/r/dev/null"',
      'MOUNT 0x1000 "/dev/null" "/r/dev/null" "" ""',
      'TOUCH 0o666 "/r/dev/zero"',
      'MOUNT 0x1000 "/dev/zero" "/r/dev/zero" "" ""',
      'TOUCH 0o666 "/r/dev/full"',
      'MOUNT 0x1000 "/dev/full" "/r/dev/full" "" ""',
      'TOUCH 0o666 "/r/dev/random"',
      'MOUNT 0x1000 "/dev/random" "/r/dev/random" "" ""',
      'TOUCH 0o666 "/r/dev/urandom"',
      'MOUNT 0x1000 "/dev/urandom" "/r/dev/urandom" "" ""',
      'TOUCH 0o666 "/r/dev/tty"',
      'MOUNT 0x1000 "/dev/tty" "/r/dev/tty" "" "" ?',
      'MKDIR 0o755 "/r/dev/pts"',
      'MOUNT 0xa "devpts" "/r/dev/pts" "devpts" "newinstance,ptmxmode=0666,mode=0620"',
      'MKDIR 0o1777 "/r/dev/shm"',
      'MOUNT 0xe "shm" "/r/dev/shm" "tmpfs" "mode=1777,size=65536k"',
      'SYMLINK "/proc/self/fd" "/r/dev/fd"',
      'SYMLINK "/proc/self/fd/0" "/r/dev/stdin"',
      'SYMLINK "/proc/self/fd/1" "/r/dev/stdout"',
      'SYMLINK "/proc/self/fd/2" "/r/dev/stderr"',
      'SYMLINK "pts/ptmx" "/r/dev/ptmx"',
      'PIVOT_ROOT "/r"',
      'CHDIR "/"',
      'RESET_SIGNALS',
      'STDIO_FIX',
      'CLOEXEC_FROM 3',
      'EXEC 1 "sh" "sh" "PATH=/bin"',
    ]);
  });

  it('--user with subordinate ids, --root /r --readonly-root, masked and read-only paths', () => {
    const range = [{ inner: 0, outer: 100000, count: 65536 }];
    const spec: ContainerSpec = {
      namespaces: ['user', 'mnt'], argv: ['sh'], env, root: '/r', readonlyRoot: true, uidMap: range, gidMap: range,
      maskPaths: ['/proc/kcore'], readonlyPaths: ['/proc/sys'], foreground: false,
    };
    expect(lines(spec)).toEqual([
      'WAIT_SYNC',
      'SETRESGID 0',
      'SETRESUID 0',
      'MOUNT 0x44000 "" "/" "" ""',
      'MOUNT 0x5000 "/r" "/r" "" ""',
      'MKDIR 0o555 "/r/proc" ?',
      'MKDIR 0o755 "/r/dev" ?',
      'MOUNT 0x1021 "" "/r" "" ""',
      'MKDIR 0o755 "/r/dev"',
      'MOUNT 0x1000002 "tmpfs" "/r/dev" "tmpfs" "mode=755,size=65536k"',
      'TOUCH 0o666 "/r/dev/null"',
      'MOUNT 0x1000 "/dev/null" "/r/dev/null" "" ""',
      'TOUCH 0o666 "/r/dev/zero"',
      'MOUNT 0x1000 "/dev/zero" "/r/dev/zero" "" ""',
      'TOUCH 0o666 "/r/dev/full"',
      'MOUNT 0x1000 "/dev/full" "/r/dev/full" "" ""',
      'TOUCH 0o666 "/r/dev/random"',
      'MOUNT 0x1000 "/dev/random" "/r/dev/random" "" ""',
      'TOUCH 0o666 "/r/dev/urandom"',
      'MOUNT 0x1000 "/dev/urandom" "/r/dev/urandom" "" ""',
      'TOUCH 0o666 "/r/dev/tty"',
      'MOUNT 0x1000 "/dev/tty" "/r/dev/tty" "" "" ?',
      'MKDIR 0o755 "/r/dev/pts"',
      'MOUNT 0xa "devpts" "/r/dev/pts" "devpts" "newinstance,ptmxmode=0666,mode=0620"',
      'MKDIR 0o1777 "/r/dev/shm"',
      'MOUNT 0xe "shm" "/r/dev/shm" "tmpfs" "mode=1777,size=65536k"',
      'SYMLINK "/proc/self/fd" "/r/dev/fd"',
      'SYMLINK "/proc/self/fd/0" "/r/dev/stdin"',
      'SYMLINK "/proc/self/fd/1" "/r/dev/stdout"',
      'SYMLINK "/proc/self/fd/2" "/r/dev/stderr"',
      'SYMLINK "pts/ptmx" "/r/dev/ptmx"',
      'PIVOT_ROOT "/r"',
      'MASK_PATH "/proc/kcore"',
      'MOUNT 0x5000 "/proc/sys" "/proc/sys" "" "" ?',
      'MOUNT 0x1021 "" "/proc/sys" "" "" ?',
      'CHDIR "/"',
      'SETGROUPS ?',
      'SETRESGID 0',
      'SETRESUID 0',
      'RESET_SIGNALS',
      'STDIO_FIX',
      'CLOEXEC_FROM 3',
      'EXEC 1 "sh" "sh" "PATH=/bin"',
    ]);
  });

  it('--mount --readonly-root -- sh (no root: the namespace\'s / is remounted read-only)', () => {
    expect(lines({ namespaces: ['mnt'], argv: ['sh'], env, readonlyRoot: true, foreground: false })).toEqual([
      'WAIT_SYNC',
      'MOUNT 0x44000 "" "/" "" ""',
      'MOUNT 0x1021 "" "/" "" ""',
      'RESET_SIGNALS',
      'STDIO_FIX',
      'CLOEXEC_FROM 3',
      'EXEC 1 "sh" "sh" "PATH=/bin"',
    ]);
  });
});
