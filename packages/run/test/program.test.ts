import { describe, expect, it } from 'vitest';
import { ancestry, capMask, containerProgram, DEFAULT_CAPS, MASKED_PATHS } from '../src/container/program.js';
import { execProgram } from '../src/container/exec.js';
import { parseLdd } from '../src/rootfs/from-host.js';
import { cgroupfsOf } from '../src/container/cgroup.js';
import { detectLayout } from '@boxkit/cg';
import { CLONE, MS } from '@boxkit/native';

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

  it("mounts its own hierarchies at /sys/fs/cgroup (read-only) only inside a cgroup namespace it must get; lo up in a netns of its own", () => {
    const mountinfo = [
      '30 25 0:26 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755',
      '31 30 0:27 / /sys/fs/cgroup/cpu rw,nosuid - cgroup cgroup rw,cpu',
      '32 30 0:28 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids',
      '33 30 0:29 / /sys/fs/cgroup/cpuset rw,nosuid - cgroup cgroup rw,cpuset',
      '34 30 0:30 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid - cgroup cgroup rw,net_cls,net_prio',
      '35 30 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
    ].join('\n');
    const dir = (mount: string, version: 1 | 2 = 1) => ({ version, mount, path: `${mount}/x`, base: mount, controllers: [] });
    // the container's groups: cpu, pids and the unified one; none in cpuset (that would show the caller's, the host's root)
    const g = { name: 'x', parent: 'self', paths: {}, dirs: [dir('/sys/fs/cgroup/cpu'), dir('/sys/fs/cgroup/pids'), dir('/sys/fs/cgroup/unified', 2), dir('/elsewhere/memory')] };
    const mounts = cgroupfsOf(g, detectLayout({ mountinfo, selfCgroup: '', read: () => '' }));
    expect(mounts).toEqual([
      { target: 'cpu', fstype: 'cgroup', data: 'cpu' }, { target: 'pids', fstype: 'cgroup', data: 'pids' }, { target: 'unified', fstype: 'cgroup2', data: '' },
    ]);
    const steps = containerProgram({ ...opts, cgroupfs: mounts, netns: true });
    const cg = steps.filter((s) => s.strs?.[1]?.startsWith('/data/c/rootfs/sys/fs/cgroup') || s.strs?.[0]?.startsWith('/data/c/rootfs/sys/fs/cgroup'));
    expect(cg.map((s) => [s.op, s.strs![s.op === 'MKDIR' ? 0 : 1]!.slice('/data/c/rootfs'.length), s.strs![2] ?? ''])).toEqual([
      ['MOUNT', '/sys/fs/cgroup', 'tmpfs'],
      ['MKDIR', '/sys/fs/cgroup/cpu', ''], ['MOUNT', '/sys/fs/cgroup/cpu', 'cgroup'],
      ['MKDIR', '/sys/fs/cgroup/pids', ''], ['MOUNT', '/sys/fs/cgroup/pids', 'cgroup'],
      ['MKDIR', '/sys/fs/cgroup/unified', ''], ['MOUNT', '/sys/fs/cgroup/unified', 'cgroup2'],
      ['MOUNT', '/sys/fs/cgroup', ''],
    ]);
    // every cgroup mount read-only, and the tmpfs remounted so
    for (const s of cg.filter((x) => x.op === 'MOUNT' && x.strs![2] !== 'tmpfs')) expect(Number(s.ints![0]) & MS.RDONLY).toBe(MS.RDONLY);
    // the namespace is required then (it is optional without the mounts)
    expect(steps.find((s) => s.op === 'UNSHARE' && s.ints![0] === CLONE.NEWCGROUP)!.optional).toBe(false);
    expect(containerProgram(opts).find((s) => s.op === 'UNSHARE' && s.ints![0] === CLONE.NEWCGROUP)!.optional).toBe(true);
    // cgroup v2 alone: cgroup2 on all of it
    const v2 = containerProgram({ ...opts, cgroupfs: [{ target: '', fstype: 'cgroup2', data: '' }] }).filter((s) => s.strs?.[1] === '/data/c/rootfs/sys/fs/cgroup');
    expect(v2.map((s) => s.strs![2])).toEqual(['cgroup2']);
    expect(steps.filter((s) => s.op === 'LINK_UP').map((s) => s.strs)).toEqual([['lo']]);
    expect(containerProgram(opts).some((s) => s.op === 'LINK_UP')).toBe(false);
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
