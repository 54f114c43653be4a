import { describe, expect, it } from 'vitest';
import { ancestry, capMask, containerProgram, DEFAULT_CAPS, MASKED_PATHS } from '../src/container/program.js';
import { execProgram } from '../src/container/exec.js';
import { parseLdd } from '../src/rootfs/from-host.js';

const opts = {
  root: '/data/c/rootfs', hostname: 'web', argv: ['sh'], env: { PATH: '/bin' }, workdir: '/', uid: 0, gid: 0, groups: [],
  readOnly: false, privileged: false, init: false, cgroupns: true,
};

describe('run: the container program', () => {
  it('waits for the parent first, pivots into the union, then masks, drops caps and execs', () => {
    const steps = containerProgram(opts);
    const ops = steps.map((s) => s.op);
    expect(ops[0]).toBe('WAIT_SYNC');
    expect(ops.indexOf('PIVOT_ROOT')).toBeGreaterThan(ops.indexOf('SETHOSTNAME'));
    expect(ops.indexOf('MASK_PATH')).toBeGreaterThan(ops.indexOf('PIVOT_ROOT'));
    expect(ops.at(-1)).toBe('EXEC');
    expect(ops).toContain('NO_NEW_PRIVS');
    expect(steps.find((s) => s.op === 'CAPS')!.ints![0]).toBe(0xa80425fbn);
    expect(steps.filter((s) => s.op === 'MASK_PATH').map((s) => s.strs![0])).toEqual(MASKED_PATHS);
    expect(steps.find((s) => s.op === 'MOUNT' && s.strs![2] === 'proc')!.strs![1]).toBe('/data/c/rootfs/proc');
    expect(ops).not.toContain('SUPERVISE');
  });

  it('--privileged keeps capabilities and paths; --init adds the supervisor; --user switches ids after the caps', () => {
    const p = containerProgram({ ...opts, privileged: true }).map((s) => s.op);
    expect(p).not.toContain('CAPS');
    expect(p).not.toContain('MASK_PATH');
    expect(p).not.toContain('NO_NEW_PRIVS');
    const i = containerProgram({ ...opts, init: true });
    expect(i.at(-2)).toEqual({ op: 'SUPERVISE', ints: [1] });
    const u = containerProgram({ ...opts, uid: 1000, gid: 1000 }).map((s) => s.op);
    expect(u.indexOf('SETRESUID')).toBeGreaterThan(u.indexOf('CAPS'));
    expect(capMask(DEFAULT_CAPS)).toBe(0xa80425fbn);
  });

  it('makes a missing --workdir with its parents (mkdir -p) before a --read-only remount, then enters it', () => {
    const steps = containerProgram({ ...opts, workdir: '/srv/app/data', readOnly: true });
    const mkdirs = steps.filter((s) => s.op === 'MKDIR' && !s.strs![0]!.startsWith('/data/c/rootfs'));
    expect(mkdirs.map((s) => s.strs![0])).toEqual(['/srv', '/srv/app', '/srv/app/data']);
    const readOnly = steps.findIndex((s) => s.op === 'MOUNT' && s.strs![1] === '/' && (Number(s.ints![0]) & 1) === 1);
    expect(steps.indexOf(mkdirs.at(-1)!)).toBeLessThan(readOnly);
    expect(steps.find((s) => s.op === 'CHDIR')!.strs).toEqual(['/srv/app/data']);
    expect(ancestry('/')).toEqual([]);
  });

  it('moves itself into its cgroup first, and makes its mount namespace only once released', () => {
    const join = [{ file: '/sys/fs/cgroup/pids/boxkit/web/tasks', value: '0' }];
    const steps = containerProgram({ ...opts, joinCgroup: join });
    expect(steps[0]).toEqual({ op: 'WRITE_FILE', strs: ['/sys/fs/cgroup/pids/boxkit/web/tasks', '0'] });
    const ops = steps.map((s) => s.op);
    const unshares = steps.filter((s) => s.op === 'UNSHARE').map((s) => s.ints![0]);
    expect(unshares[0]).toBe(0x20000); // CLONE_NEWNS
    expect(ops.indexOf('UNSHARE')).toBe(ops.indexOf('WAIT_SYNC') + 1);
    expect(ops.indexOf('MOUNT')).toBeGreaterThan(ops.indexOf('UNSHARE'));
  });

  it('exec joins the namespaces with mnt last, then forks into the PID namespace', () => {
    const steps = execProgram(42, ['ps'], { env: {}, workdir: '/', privileged: false, detach: false });
    const joins = steps.filter((s) => s.op === 'SETNS').map((s) => s.strs![0]);
    expect(joins.at(-1)).toBe('/proc/42/ns/mnt');
    expect(joins).toContain('/proc/42/ns/pid');
    expect(steps.map((s) => s.op).indexOf('SUPERVISE')).toBeGreaterThan(steps.map((s) => s.op).lastIndexOf('SETNS'));
    const g = { name: 'web', parent: 'root', paths: {}, dirs: [{ version: 1 as const, mount: '/sys/fs/cgroup/pids', path: '/sys/fs/cgroup/pids/boxkit/web', base: '/sys/fs/cgroup/pids/boxkit', controllers: ['pids' as const] }] };
    const joined = execProgram(42, ['ps'], { env: {}, workdir: '/', privileged: false, detach: false }, g);
    // not dumpable before anything else (runc's init): the exec makes it dumpable again
    expect(joined[0]).toEqual({ op: 'DUMPABLE', ints: [0] });
    expect(steps[0]).toEqual({ op: 'DUMPABLE', ints: [0] });
    expect(joined[1]).toEqual({ op: 'WRITE_FILE', strs: ['/sys/fs/cgroup/pids/boxkit/web/tasks', '0'] });
    expect(joined[2]!.op).toBe('WAIT_SYNC');
    // the container's --user: ids switched after the capabilities are set, before no_new_privs
    const u = execProgram(42, ['id'], { env: {}, workdir: '/', uid: 65534, gid: 65534, groups: [], privileged: false, detach: false }).map((s) => s.op);
    expect(u.indexOf('SETRESUID')).toBeGreaterThan(u.indexOf('CAPS'));
    expect(u.indexOf('NO_NEW_PRIVS')).toBeGreaterThan(u.indexOf('SETRESUID'));
    expect(steps.map((s) => s.op)).not.toContain('SETRESUID');
    // a pidfd proves, after the last /proc/42 open, that PID 1 still lived (no other process had its PID)
    const guarded = execProgram(42, ['ps'], { env: {}, workdir: '/', privileged: false, detach: false, pidfd: 9 });
    const gops = guarded.map((s) => s.op);
    expect(gops.indexOf('ALIVE')).toBe(gops.lastIndexOf('SETNS') + 1);
    expect(guarded[gops.indexOf('ALIVE')]).toEqual({ op: 'ALIVE', ints: [9] });
  });

  it('reads the libraries out of ldd output, the loader included', () => {
    const out = `\tlinux-vdso.so.1 (0x00007ffd)\n\tlibtinfo.so.6 => /lib/x86_64-linux-gnu/libtinfo.so.6 (0x00007f)\n\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n`;
    expect(parseLdd(out)).toEqual(['/lib/x86_64-linux-gnu/libtinfo.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2']);
  });
});
