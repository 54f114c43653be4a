/**
 * The container's cgroup with its limits. Adapter over the cg library.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from '@boxkit/common';
import type { Limits } from './spec.js';

const CONTROLLERS = ['cpu', 'cpuacct', 'memory', 'pids', 'freezer'];
const ROOT = '/sys/fs/cgroup';

export interface CgroupPlan {
  /** 'self' or a path below each hierarchy's root */
  parent: string;
  name: string;
  limits: Limits;
}

function selfPath(ctrl: string): string {
  for (const l of readFileSync('/proc/self/cgroup', 'utf8').split('\n')) {
    const [, ctrls, path] = l.split(':');
    if (ctrls?.split(',').includes(ctrl)) return path!;
  }
  return '/';
}

/** The group's path relative to each hierarchy root (resolved now, stable afterwards). */
export function cgroupPath(c: CgroupPlan, ctrl = 'memory'): string {
  const parent = c.parent === 'self' ? selfPath(ctrl) : `/${c.parent}`;
  return join(parent, c.name);
}

function limitFiles(l: Limits): [string, string, string][] {
  const out: [string, string, string][] = [];
  if (l.cpuQuota !== undefined) {
    out.push(['cpu', 'cpu.cfs_period_us', String(l.cpuPeriod ?? 100000)]);
    out.push(['cpu', 'cpu.cfs_quota_us', String(l.cpuQuota)]);
  }
  if (l.memory !== undefined) out.push(['memory', 'memory.limit_in_bytes', String(l.memory)]);
  if (l.pids !== undefined) out.push(['pids', 'pids.max', String(l.pids)]);
  return out;
}

export function cgroupShell(c: CgroupPlan): string {
  const l = c.limits;
  return shellQuote([
    'cg', 'create', '--parent', c.parent, c.name,
    ...(l.cpuQuota !== undefined ? ['--cpu-quota', String(l.cpuQuota), '--cpu-period', String(l.cpuPeriod ?? 100000)] : []),
    ...(l.memory !== undefined ? ['--memory', String(l.memory)] : []),
    ...(l.pids !== undefined ? ['--pids', String(l.pids)] : []),
  ]);
}

export function attachShell(c: CgroupPlan, pid: string): string {
  return shellQuote(['cg', 'attach', '--parent', c.parent, c.name, pid]);
}

export function removeShell(c: CgroupPlan): string {
  return shellQuote(['cg', 'rm', '--parent', c.parent, c.name]);
}

/** Create the group in every hierarchy; returns the paths (for the record). */
export function createCgroup(c: CgroupPlan): string[] {
  const made: string[] = [];
  try {
    for (const ctrl of CONTROLLERS) {
      const dir = join(ROOT, ctrl, cgroupPath(c, ctrl));
      if (!existsSync(join(ROOT, ctrl))) continue;
      mkdirSync(join(dir, '..'), { recursive: true });
      mkdirSync(dir);
      made.push(dir);
    }
    for (const [ctrl, file, value] of limitFiles(c.limits)) writeFileSync(join(ROOT, ctrl, cgroupPath(c, ctrl), file), value);
  } catch (e) {
    removeDirs(made);
    throw e;
  }
  return made;
}

export function attachCgroup(dirs: string[], pid: number): void {
  for (const d of dirs) writeFileSync(join(d, 'cgroup.procs'), String(pid));
}

function removeDirs(dirs: string[]): void {
  for (const d of [...dirs].reverse()) {
    try {
      rmdirSync(d);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }
}

/** Remove the group; retries while the last processes are still exiting (EBUSY). */
export async function removeCgroup(dirs: string[]): Promise<void> {
  for (let i = 0; ; i++) {
    try {
      return removeDirs(dirs);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EBUSY' || i > 50) throw e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
