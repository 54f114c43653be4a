/**
 * The drivers against a temporary directory laid out like cgroup mounts (no
 * root needed), as runc's fs/fs2 tests do: the layout comes from mountinfo
 * text whose mount points are the temp dirs.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPlan, renderPlan } from '@boxkit/common';
import { detectLayout } from '../src/layout.js';
import { resolveGroup } from '../src/group.js';
import { dirsToMake, planCreate } from '../src/create.js';
import { adoptable, beginMaking, markerPath } from '../src/making.js';
import { parseLimits } from '../src/limits.js';

let root: string;
const mi = (id: number, mount: string, fstype: string, opts: string) => `${id} 1 0:${id} / ${mount} rw,relatime - ${fstype} ${fstype} ${opts}`;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'cg-unit-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Run `fn` with BOXKIT_STATE_DIR set to `dir` (restored after). */
function inStateDir(dir: string, fn: () => void): void {
  const saved = process.env.BOXKIT_STATE_DIR;
  process.env.BOXKIT_STATE_DIR = dir;
  try {
    fn();
  } finally {
    if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
    else process.env.BOXKIT_STATE_DIR = saved;
  }
}

describe('layout detection', () => {
  it('hybrid: v1 controllers beside a cgroup2 holding only hugetlb (this project\'s machines)', () => {
    mkdirSync(join(root, 'unified'), { recursive: true });
    writeFileSync(join(root, 'unified', 'cgroup.controllers'), 'hugetlb\n');
    const mountinfo = [
      mi(32, join(root, 'cpu'), 'cgroup', 'rw,cpu'), mi(33, join(root, 'cpuacct'), 'cgroup', 'rw,cpuacct'),
      mi(35, join(root, 'memory'), 'cgroup', 'rw,memory'), mi(40, join(root, 'systemd'), 'cgroup', 'rw,name=systemd'),
      mi(41, join(root, 'unified'), 'cgroup2', 'rw'),
    ].join('\n');
    const l = detectLayout({ mountinfo, selfCgroup: '4:memory:/process_api/x\n1:cpu:/\n2:cpuacct:/\n0::/\n' });
    expect(l.mode).toBe('hybrid');
    expect(l.byController.cpu?.mount).toBe(join(root, 'cpu'));
    expect(l.byController.memory?.self).toBe('/process_api/x');
    expect(l.byController.hugetlb?.version).toBe(2);
    expect(l.byController.freezer).toBeUndefined();
  });

  it('co-mounted cpu,cpuacct is one hierarchy (the article\'s layout)', () => {
    const l = detectLayout({ mountinfo: mi(3, '/sys/fs/cgroup/cpu,cpuacct', 'cgroup', 'rw,cpu,cpuacct'), selfCgroup: '3:cpu,cpuacct:/user\n' });
    expect(l.hierarchies).toHaveLength(1);
    expect(l.hierarchies[0]!.controllers).toEqual(['cpu', 'cpuacct']);
    expect(l.hierarchies[0]!.self).toBe('/user');
  });
});

describe('v1 driver against a temp dir', () => {
  function v1() {
    for (const c of ['cpu', 'cpuset', 'memory']) mkdirSync(join(root, c));
    writeFileSync(join(root, 'cpuset', 'cpuset.cpus'), '0-1\n');
    writeFileSync(join(root, 'cpuset', 'cpuset.mems'), '0\n');
    const mountinfo = ['cpu', 'cpuset', 'memory'].map((c, i) => mi(i + 10, join(root, c), 'cgroup', `rw,${c}`)).join('\n');
    return detectLayout({ mountinfo, selfCgroup: '' });
  }

  it("renders the article's lines and writes the files", async () => {
    const layout = v1();
    const g = resolveGroup('web', { layout, controllers: ['cpu'] });
    const steps = planCreate(g, parseLimits({ cpuQuota: '50000' }));
    expect(renderPlan(steps)).toEqual([`mkdir ${root}/cpu/boxkit`, `mkdir ${root}/cpu/boxkit/web`, `echo 50000 > ${root}/cpu/boxkit/web/cpu.cfs_quota_us`]);
    await applyPlan(steps);
    expect(readFileSync(join(root, 'cpu/boxkit/web/cpu.cfs_quota_us'), 'utf8')).toBe('50000');
  });

  it('copies cpuset cpus/mems from the parent into new groups', async () => {
    const g = resolveGroup('a', { layout: v1(), controllers: ['cpuset'] });
    await applyPlan(planCreate(g, {}));
    expect(readFileSync(join(root, 'cpuset/boxkit/a/cpuset.cpus'), 'utf8')).toBe('0-1');
    expect(readFileSync(join(root, 'cpuset/boxkit/cpuset.mems'), 'utf8')).toBe('0');
  });

  it('create is idempotent, and a conflicting create fails before any write', async () => {
    const layout = v1();
    const g = resolveGroup('m', { layout, controllers: ['memory'] });
    await applyPlan(planCreate(g, parseLimits({ memory: '64M' }), { mode: 'create' }));
    expect(() => planCreate(g, parseLimits({ memory: '64M' }), { mode: 'create' })).not.toThrow();
    expect(() => planCreate(g, parseLimits({ memory: '32M' }), { mode: 'create' })).toThrow(/exists with memory.limit_in_bytes=67108864, not 33554432/);
  });

  it('directories a killed create made (adopt) are planned as new: made again, every limit written, no conflict; undone on failure', async () => {
    const layout = v1();
    const g = resolveGroup('half', { layout, controllers: ['cpu', 'memory'] });
    // killed after mkdir cpu/boxkit/half, before its quota
    mkdirSync(join(root, 'cpu/boxkit/half'), { recursive: true });
    writeFileSync(join(root, 'cpu/boxkit/half/cpu.cfs_quota_us'), '-1');
    expect(() => planCreate(g, parseLimits({ cpuQuota: '50000' }), { mode: 'create' })).toThrow(/exists with cpu.cfs_quota_us=-1, not 50000/);
    expect(dirsToMake(g)).toEqual([`${root}/memory/boxkit`, `${root}/memory/boxkit/half`]);
    const adopt = new Set([`${root}/cpu/boxkit`, `${root}/cpu/boxkit/half`]);
    expect(dirsToMake(g, adopt)).toEqual([...adopt, `${root}/memory/boxkit`, `${root}/memory/boxkit/half`]);
    const steps = planCreate(g, parseLimits({ cpuQuota: '50000' }), { mode: 'create', adopt });
    expect(renderPlan(steps)).toEqual([
      `mkdir ${root}/cpu/boxkit`, `mkdir ${root}/cpu/boxkit/half`, `echo 50000 > ${root}/cpu/boxkit/half/cpu.cfs_quota_us`,
      `mkdir ${root}/memory/boxkit`, `mkdir ${root}/memory/boxkit/half`,
    ]);
    await applyPlan(steps);
    expect(readFileSync(join(root, 'cpu/boxkit/half/cpu.cfs_quota_us'), 'utf8')).toBe('50000');
  });

  it("create's marker: taken before the first mkdir, a dead writer's adopted, none written when nothing is to be made", () => {
    const saved = process.env.BOXKIT_STATE_DIR;
    process.env.BOXKIT_STATE_DIR = join(root, 'state');
    try {
      const g = resolveGroup('mk', { layout: v1(), controllers: ['cpu'] });
      const m = beginMaking(g, (adopt) => dirsToMake(g, adopt));
      expect(m.dirs).toEqual([`${root}/cpu/boxkit`, `${root}/cpu/boxkit/mk`]);
      const marker = JSON.parse(readFileSync(markerPath(g)!, 'utf8'));
      expect(marker).toEqual({ pid: process.pid, name: 'mk', dirs: m.dirs });
      // its writer killed (a pid that is not running), the next create takes its directories
      writeFileSync(markerPath(g)!, JSON.stringify({ ...marker, pid: 2 ** 22 + 1 }));
      expect([...adoptable(g)]).toEqual(m.dirs);
      // processes joined it since (cg exec, attach): in use, judged by its limits, not finished as ours
      mkdirSync(join(root, 'cpu/boxkit/mk'), { recursive: true });
      writeFileSync(join(root, 'cpu/boxkit/mk/cgroup.procs'), '4242\n');
      expect([...adoptable(g)]).toEqual([]);
      writeFileSync(join(root, 'cpu/boxkit/mk/cgroup.procs'), '');
      expect([...adoptable(g)]).toEqual(m.dirs);
      rmSync(join(root, 'cpu/boxkit'), { recursive: true });
      const next = beginMaking(g, (adopt) => dirsToMake(g, adopt));
      expect([...next.adopt]).toEqual(m.dirs);
      expect(JSON.parse(readFileSync(markerPath(g)!, 'utf8')).pid).toBe(process.pid);
      next.done();
      expect(existsSync(markerPath(g)!)).toBe(false);
      // a complete group (everything there) and no marker: nothing written
      mkdirSync(join(root, 'cpu/boxkit/mk'), { recursive: true });
      beginMaking(g, (adopt) => dirsToMake(g, adopt)).done();
      expect(readdirSync(join(root, 'state', 'cg', 'making')).filter((n) => n !== '.lock')).toEqual([]);
      // a state dir that cannot be written: create goes on without a marker, as before markers
      rmSync(join(root, 'cpu/boxkit'), { recursive: true });
      writeFileSync(join(root, 'file'), '');
      process.env.BOXKIT_STATE_DIR = join(root, 'file');
      const none = beginMaking(g, (adopt) => dirsToMake(g, adopt));
      expect(none.dirs).toEqual([]);
      none.done();
      // not root and no XDG_RUNTIME_DIR (nor BOXKIT_STATE_DIR): no marker at all, never /run/boxkit
      if (process.geteuid?.() !== 0 && !process.env.XDG_RUNTIME_DIR) {
        delete process.env.BOXKIT_STATE_DIR;
        expect(markerPath(g)).toBeUndefined();
      }
    } finally {
      if (saved === undefined) delete process.env.BOXKIT_STATE_DIR;
      else process.env.BOXKIT_STATE_DIR = saved;
    }
  });

  it("create's marker where the state dir cannot hold one (making/ a file, a symlink at the marker's path): no marker, at once, never a hang", () => {
    inStateDir(join(root, 'state'), () => {
      const g = resolveGroup('odd', { layout: v1(), controllers: ['cpu'] });
      mkdirSync(join(root, 'state', 'cg'), { recursive: true });
      writeFileSync(join(root, 'state', 'cg', 'making'), '');
      let t0 = Date.now();
      const none = beginMaking(g, (adopt) => dirsToMake(g, adopt));
      expect(Date.now() - t0).toBeLessThan(1000);
      expect([none.dirs, [...none.adopt]]).toEqual([[], []]);
      none.done();
      rmSync(join(root, 'state', 'cg', 'making'));
      // a dangling symlink where the marker goes: left alone, no marker
      mkdirSync(join(root, 'state', 'cg', 'making'));
      symlinkSync(join(root, 'nowhere'), markerPath(g)!);
      t0 = Date.now();
      const none2 = beginMaking(g, (adopt) => dirsToMake(g, adopt));
      expect(Date.now() - t0).toBeLessThan(1000);
      expect(none2.dirs).toEqual([]);
      expect(lstatSync(markerPath(g)!).isSymbolicLink()).toBe(true);
    });
  });

  it("create's marker: an aside a killed create left is swept with no marker there; a dead marker naming directories off the group's chains is not adopted", () => {
    inStateDir(join(root, 'state'), () => {
      const g = resolveGroup('sw', { layout: v1(), controllers: ['cpu'] });
      const making = join(root, 'state', 'cg', 'making');
      mkdirSync(making, { recursive: true });
      // killed between its aside write and link(2): pid gone, no marker
      const aside = `${markerPath(g)!}.${2 ** 22 + 1}.tmp`;
      writeFileSync(aside, '{}');
      const m = beginMaking(g, (adopt) => dirsToMake(g, adopt));
      expect(existsSync(aside)).toBe(false);
      expect(readdirSync(making).filter((n) => n !== '.lock')).toEqual([markerPath(g)!.split('/').at(-1)]);
      m.done();
      // a dead writer's marker that names a directory of another group (or outside the hierarchy)
      for (const foreign of [join(root, 'cpu/boxkit/other'), join(root, 'elsewhere'), root]) {
        writeFileSync(markerPath(g)!, JSON.stringify({ pid: 2 ** 22 + 1, name: 'sw', dirs: [join(root, 'cpu/boxkit'), foreign] }));
        expect([...adoptable(g)]).toEqual([]);
        const next = beginMaking(g, (adopt) => dirsToMake(g, adopt));
        expect([...next.adopt]).toEqual([]);
        next.done();
      }
      // its own chain: adopted
      writeFileSync(markerPath(g)!, JSON.stringify({ pid: 2 ** 22 + 1, name: 'sw', dirs: [join(root, 'cpu/boxkit'), join(root, 'cpu/boxkit/sw')] }));
      expect([...adoptable(g)]).toEqual([join(root, 'cpu/boxkit'), join(root, 'cpu/boxkit/sw')]);
    });
  });

  it('a memory limit alone keeps the swap allowance (memsw moves with it, as v2 keeps memory.swap.max)', () => {
    const layout = v1();
    const g = resolveGroup('sw', { layout, controllers: ['memory'] });
    mkdirSync(join(root, 'memory/boxkit/sw'), { recursive: true });
    writeFileSync(join(root, 'memory/boxkit/sw/memory.limit_in_bytes'), String(32 << 20));
    writeFileSync(join(root, 'memory/boxkit/sw/memory.memsw.limit_in_bytes'), String(64 << 20));
    const dir = `${root}/memory/boxkit/sw`;
    expect(renderPlan(planCreate(g, parseLimits({ memory: '128M' })))).toEqual([
      `echo ${160 << 20} > ${dir}/memory.memsw.limit_in_bytes`, `echo ${128 << 20} > ${dir}/memory.limit_in_bytes`,
    ]);
    expect(renderPlan(planCreate(g, parseLimits({ memory: 'max' })))).toEqual([`echo -1 > ${dir}/memory.memsw.limit_in_bytes`, `echo -1 > ${dir}/memory.limit_in_bytes`]);
    // lowered: 48M is not below the current 32M, so memsw can still go first
    expect(renderPlan(planCreate(g, parseLimits({ memory: '16M' })))).toEqual([
      `echo ${48 << 20} > ${dir}/memory.memsw.limit_in_bytes`, `echo ${16 << 20} > ${dir}/memory.limit_in_bytes`,
    ]);
    // an unlimited memsw stays as it is
    writeFileSync(join(root, 'memory/boxkit/sw/memory.memsw.limit_in_bytes'), '9223372036854771712');
    expect(renderPlan(planCreate(g, parseLimits({ memory: '128M' })))).toEqual([`echo ${128 << 20} > ${dir}/memory.limit_in_bytes`]);
  });

  it('a nested quota above the nearest limited ancestor\'s is refused before anything is made (v1 says EINVAL at the write)', () => {
    const layout = v1();
    const parent = join(root, 'cpu/boxkit/p');
    mkdirSync(parent, { recursive: true });
    writeFileSync(join(parent, 'cpu.cfs_quota_us'), '50000\n');
    writeFileSync(join(parent, 'cpu.cfs_period_us'), '100000\n');
    const plan = (name: string, flags: Record<string, string>) => planCreate(resolveGroup(name, { layout, controllers: ['cpu'] }), parseLimits(flags));
    expect(() => plan('p/c', { cpuQuota: '100000' })).toThrow(/^cpu quota 100000\/100000 µs of boxkit\/p\/c is above the quota of boxkit\/p \(cfs_quota_us 50000 per cfs_period_us 100000\): cgroup v1 refuses it \(EINVAL\)$/);
    // the ratio counts, not the quota: 30000 per 50000 is 60% of a CPU
    expect(() => plan('p/c', { cpuQuota: '30000', cpuPeriod: '50000' })).toThrow(/above the quota of boxkit\/p/);
    // an unlimited level in between inherits the limit above it
    expect(() => plan('p/mid/c', { cpus: '2' })).toThrow(/of boxkit\/p\/mid\/c is above the quota of boxkit\/p /);
    expect(() => plan('p/c', { cpuQuota: '50000' })).not.toThrow();
    expect(() => plan('p/c', { cpuQuota: '25000', cpuPeriod: '50000' })).not.toThrow();
    expect(() => plan('p/c', { cpuQuota: 'max' })).not.toThrow();
    let hint = '';
    try {
      plan('p/c', { cpuQuota: '100000' });
    } catch (e) {
      hint = (e as { hint: string; exitCode: number }).hint;
      expect((e as { exitCode: number }).exitCode).toBe(2);
    }
    expect(hint).toMatch(/^give at most 50000 per 100000 µs/);
    expect(existsSync(join(parent, 'c'))).toBe(false);
  });

  it('a failure part-way undoes what this run made', async () => {
    const layout = v1();
    const g = resolveGroup('u', { layout, controllers: ['cpu', 'memory'] });
    // (only the last step writes a file: a temp dir, unlike cgroupfs, cannot rmdir a dir holding files)
    const steps = planCreate(g, parseLimits({ memory: '64M' }));
    // make the memory write fail
    const orig = steps.at(-1)!;
    steps[steps.length - 1] = { ...orig, apply: () => { throw new Error('refused'); } };
    await expect(applyPlan(steps)).rejects.toThrow('refused');
    expect(existsSync(join(root, 'cpu/boxkit/u'))).toBe(false);
    expect(existsSync(join(root, 'memory/boxkit'))).toBe(false);
  });
});

describe('v2 driver against a temp dir', () => {
  function v2(procsInSelf: boolean) {
    const m = join(root, 'v2');
    mkdirSync(join(m, 'svc', 'runner'), { recursive: true });
    writeFileSync(join(m, 'cgroup.controllers'), 'cpuset cpu io memory pids\n');
    writeFileSync(join(m, 'cgroup.subtree_control'), '');
    for (const d of ['svc', 'svc/runner']) {
      writeFileSync(join(m, d, 'cgroup.controllers'), '');
      writeFileSync(join(m, d, 'cgroup.subtree_control'), '');
      writeFileSync(join(m, d, 'cgroup.procs'), '');
    }
    if (procsInSelf) writeFileSync(join(m, 'svc/runner/cgroup.procs'), '4242\n');
    return { m, layout: detectLayout({ mountinfo: mi(5, m, 'cgroup2', 'rw'), selfCgroup: '0::/svc/runner\n' }) };
  }

  it('enables controllers down the path, then writes cpu.max', () => {
    const { m, layout } = v2(false);
    expect(layout.mode).toBe('v2');
    const g = resolveGroup('t', { layout, parent: 'svc', controllers: ['cpu', 'memory'] });
    expect(renderPlan(planCreate(g, parseLimits({ cpus: '0.5' })))).toEqual([
      `echo '+cpu +memory' > ${m}/cgroup.subtree_control`,
      `echo '+cpu +memory' > ${m}/svc/cgroup.subtree_control`,
      `mkdir ${m}/svc/t`,
      `echo '50000 100000' > ${m}/svc/t/cpu.max`,
    ]);
  });

  it('--parent self under a cgroup with processes is refused before any change (no internal processes)', () => {
    const { layout } = v2(true);
    const g = resolveGroup('t', { layout, parent: 'self', controllers: ['memory'] });
    expect(() => planCreate(g, parseLimits({ memory: '32M' }))).toThrow(/holds 1 process\(es\).*no internal processes/);
  });

  it('cpu.max: --quota alone keeps the period and --period alone keeps the quota, as v1\'s two files do', () => {
    const { m, layout } = v2(false);
    const g = resolveGroup('p', { layout, parent: 'svc', controllers: ['cpu'] });
    mkdirSync(join(m, 'svc/p'));
    writeFileSync(join(m, 'svc/cgroup.subtree_control'), 'cpu\n');
    writeFileSync(join(m, 'cgroup.subtree_control'), 'cpu\n');
    writeFileSync(join(m, 'svc/p/cpu.max'), '25000 50000\n');
    expect(renderPlan(planCreate(g, parseLimits({ cpuQuota: '40000' })))).toEqual([`echo '40000 50000' > ${m}/svc/p/cpu.max`]);
    expect(renderPlan(planCreate(g, parseLimits({ cpuPeriod: '200000' })))).toEqual([`echo '25000 200000' > ${m}/svc/p/cpu.max`]);
    expect(renderPlan(planCreate(g, parseLimits({ cpuQuota: '40000', cpuPeriod: '200000' })))).toEqual([`echo '40000 200000' > ${m}/svc/p/cpu.max`]);
    // create of what exists with the same quota is idempotent whatever the period
    expect(() => planCreate(g, parseLimits({ cpuQuota: '25000' }), { mode: 'create' })).not.toThrow();
  });

  it('memory.max below the usage of an existing group is refused (EBUSY, as v1), not an OOM kill, and nothing is written', async () => {
    const { m, layout } = v2(false);
    const g = resolveGroup('busy', { layout, parent: 'svc', controllers: ['memory'] });
    mkdirSync(join(m, 'svc/busy'));
    writeFileSync(join(m, 'cgroup.subtree_control'), 'memory\n');
    writeFileSync(join(m, 'svc/cgroup.subtree_control'), 'memory\n');
    writeFileSync(join(m, 'svc/busy/memory.max'), '67108864\n');
    writeFileSync(join(m, 'svc/busy/memory.current'), String(40 << 20));
    await expect(applyPlan(planCreate(g, parseLimits({ memory: '8M' })))).rejects.toThrow(/memory\.max: EBUSY/);
    expect(readFileSync(join(m, 'svc/busy/memory.max'), 'utf8')).toBe('67108864\n');
    await applyPlan(planCreate(g, parseLimits({ memory: '48M' })));
    expect(readFileSync(join(m, 'svc/busy/memory.max'), 'utf8')).toBe(String(48 << 20));
  });

  it('create is idempotent for a memory limit that is not a page multiple (the kernel reads it back rounded down)', () => {
    const { m, layout } = v2(false);
    const g = resolveGroup('pg', { layout, parent: 'svc', controllers: ['memory'] });
    mkdirSync(join(m, 'svc/pg'));
    writeFileSync(join(m, 'cgroup.subtree_control'), 'memory\n');
    writeFileSync(join(m, 'svc/cgroup.subtree_control'), 'memory\n');
    writeFileSync(join(m, 'svc/pg/memory.max'), '98304\n');
    expect(() => planCreate(g, parseLimits({ memory: '100000' }), { mode: 'create' })).not.toThrow();
    expect(() => planCreate(g, parseLimits({ memory: '102400' }), { mode: 'create' })).toThrow(/exists with memory\.max=98304, not 102400/);
  });

  it('--memory-swap without swap accounting (memory.max but no memory.swap.max in the groups above) is refused before anything is made', () => {
    const { m, layout } = v2(false);
    writeFileSync(join(m, 'cgroup.subtree_control'), 'memory\n');
    writeFileSync(join(m, 'svc/cgroup.controllers'), 'memory\n');
    writeFileSync(join(m, 'svc/memory.max'), 'max\n');
    const g = resolveGroup('nosw/t', { layout, parent: 'svc', controllers: ['memory'] });
    let err: { message: string; exitCode: number } | undefined;
    try {
      planCreate(g, parseLimits({ memory: '32M', memorySwap: '64M' }));
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.message).toBe(`memorySwap: ${m}/svc/memory.max has no memory.swap.max beside it: this kernel has no swap accounting on cgroup v2`);
    expect(err?.exitCode).toBe(2);
    expect(existsSync(join(m, 'svc/nosw'))).toBe(false);
    // --memory alone is fine, and so is swap where the kernel has the file
    expect(() => planCreate(g, parseLimits({ memory: '32M' }))).not.toThrow();
    writeFileSync(join(m, 'svc/memory.swap.max'), 'max\n');
    expect(() => planCreate(g, parseLimits({ memory: '32M', memorySwap: '64M' }))).not.toThrow();
  });

  it('devices on v2: no file, one step that attaches the eBPF program for the whole list (after the mkdir)', () => {
    const { layout } = v2(false);
    const g = resolveGroup('d', { layout, parent: 'svc' });
    expect(g.paths.devices).toBe(g.dirs[0]!.path);
    const shells = planCreate(g, { devicesDeny: ['a'], devicesAllow: ['c 1:3 rwm', 'c 1:5 r'] }).map((s) => s.shell);
    expect(shells.filter((s) => s.startsWith('#'))).toEqual([`# attach an eBPF device program to ${g.dirs[0]!.path}: deny, c 1:3 rwm, c 1:5 r`]);
    expect(shells.indexOf(`mkdir ${g.dirs[0]!.path}`)).toBeLessThan(shells.length - 1);
  });
});
