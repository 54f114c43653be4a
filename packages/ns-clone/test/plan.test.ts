import { describe, expect, it } from 'vitest';
import { CLONE } from '@boxkit/native';
import { planContainer, containerSteps, cloneFlags, idsInside } from '../src/plan.js';
import type { ContainerSpec } from '../src/spec.js';

const base = (over: Partial<ContainerSpec>): ContainerSpec => ({ namespaces: [], argv: ['sh'], env: { PATH: '/bin' }, ...over });
const ops = (spec: ContainerSpec) => containerSteps(spec).map((s) => s.op);

describe('planContainer', () => {
  it('clones every namespace but cgroup and time, which the child unshares after release', () => {
    expect(cloneFlags(['uts', 'pid', 'cgroup', 'time'])).toBe(CLONE.NEWUTS | CLONE.NEWPID);
    const o = ops(base({ namespaces: ['cgroup', 'time', 'pid'] }));
    expect(o.slice(0, 3)).toEqual(['WAIT_SYNC', 'UNSHARE', 'UNSHARE']);
    expect(o).toContain('SUPERVISE'); // the time namespace applies to children only
  });

  it('with a root: private mounts, bind, proc, dev, then pivot_root and chdir /', () => {
    const o = ops(base({ namespaces: ['mnt', 'pid'], root: '/r', mountProc: true }));
    const i = (op: string) => o.indexOf(op as never);
    expect(o[1]).toBe('MOUNT');
    expect(i('PIVOT_ROOT')).toBeGreaterThan(o.lastIndexOf('MOUNT' as never));
    expect(o[i('PIVOT_ROOT') + 1]).toBe('CHDIR');
    expect(o.at(-1)).toBe('EXEC');
    const steps = containerSteps(base({ namespaces: ['mnt', 'pid'], root: '/r', mountProc: true }));
    expect(steps.some((s) => s.op === 'MOUNT' && s.strs?.[2] === 'proc' && s.strs[1] === '/r/proc')).toBe(true);
    expect(steps.some((s) => s.op === 'MOUNT' && s.strs?.[0] === '/dev/null' && s.strs[1] === '/r/dev/null')).toBe(true);
  });

  it('--init forks a supervisor that is PID 1', () => {
    const s = containerSteps(base({ namespaces: ['pid'], init: true })).find((x) => x.op === 'SUPERVISE');
    expect(s?.ints).toEqual([1]);
  });

  it('the setup fifo comes first, before any setup inside', () => {
    expect(ops(base({ namespaces: ['uts'], hostname: 'h', waitFifo: '/f' })).slice(0, 4)).toEqual(['WAIT_SYNC', 'WAIT_FIFO', 'UNLINK', 'SETHOSTNAME']);
  });

  it('becomes root of a user namespace whose map leaves out the caller', () => {
    const spec = base({ namespaces: ['user'], uidMap: [{ inner: 0, outer: 100000, count: 65536 }], gidMap: [{ inner: 0, outer: 100000, count: 65536 }] });
    expect(idsInside(spec, 0, 0)).toEqual({ uid: 0, gid: 0 });
    expect(idsInside(base({ namespaces: ['user'], uidMap: [{ inner: 0, outer: 1000, count: 1 }] }), 1000, 1000)).toEqual({});
  });

  it('renders the plan as shell lines with the map writes in the parent', () => {
    const d = planContainer(base({ namespaces: ['user', 'uts'], hostname: 'web', uidMap: [{ inner: 0, outer: 0, count: 1 }] })).describe;
    expect(d[0]).toBe('# clone(CLONE_NEWUTS|CLONE_NEWUSER) -> PID; the child runs the steps below');
    expect(d).toContain("echo '0 0 1' > /proc/$PID/uid_map");
    expect(d).toContain('hostname web');
    expect(d.indexOf('hostname web')).toBeGreaterThan(d.findIndex((l) => l.includes('uid_map')));
  });
});
