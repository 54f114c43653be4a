/**
 * cgroup v1 specifics: a hierarchy per controller, a new cpuset group starts
 * with empty cpus and mems (no task can join until both are set, ENOSPC), so
 * they are copied from the parent, as runc's fs/cpuset.go does; the freezer
 * is freezer.state; usage comes from cpuacct and memory's own files.
 */
import { shellQuote, UsageError, type PlanStep } from '@boxkit/common';
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { readValue, writeValue } from '../steps.js';
import type { Controller } from '../layout.js';

/** Steps right after `mkdir dir` in a v1 hierarchy. */
export function afterMkdirV1(dir: string, parent: string, controllers: readonly Controller[]): PlanStep[] {
  if (!controllers.includes('cpuset')) return [];
  return ['cpuset.cpus', 'cpuset.mems'].map((f) => ({
    shell: `cat ${shellQuote([join(parent, f)])} > ${shellQuote([join(dir, f)])}`,
    apply: () => {
      if (readValue(join(dir, f))) return; // cgroup.clone_children already copied it
      writeValue(join(dir, f), readValue(join(parent, f)) ?? '');
    },
  }));
}

export const FREEZER_V1 = {
  file: 'freezer.state',
  value: (frozen: boolean) => (frozen ? 'FROZEN' : 'THAWED'),
  /** FREEZING while in progress */
  isFrozen: (dir: string) => readValue(join(dir, 'freezer.state')) === 'FROZEN',
  isThawed: (dir: string) => readValue(join(dir, 'freezer.state')) === 'THAWED',
};

/** The kernel's bandwidth ratio (kernel/sched/core.c to_ratio: runtime << BW_SHIFT / period), compared as it compares them. */
const ratio = (quota: bigint, period: bigint): bigint => (quota << 20n) / period;
const DEFAULT_PERIOD = 100_000n; // a new v1 group's cfs_period_us (not inherited)

/**
 * cgroup v1 refuses (EINVAL at the write) a CPU quota whose quota/period is
 * above the nearest limited ancestor's (tg_cfs_schedulable_down), where v2
 * takes it and caps the group at the parent's share. Said before anything
 * is made, with the ancestor's numbers: docker and cgset fail there too, so
 * the quota is not silently lowered. `dir` is the group's directory;
 * quota/period are what it is given (undefined: kept as it is, or the
 * default for a new group).
 */
export function checkQuotaFitsV1(mount: string, dir: string, quota: number | 'max' | undefined, period: number | undefined): void {
  if (quota === undefined && period === undefined) return;
  const existed = existsSync(dir);
  const now = (f: string) => (existed ? readValue(join(dir, f)) : undefined);
  const q = quota === undefined ? Number(now('cpu.cfs_quota_us') ?? -1) : quota === 'max' ? -1 : quota;
  if (!(q > 0)) return;
  const p = period !== undefined ? BigInt(period) : BigInt(now('cpu.cfs_period_us') ?? DEFAULT_PERIOD);
  for (let up = dirname(dir); up.startsWith(`${mount}/`) && up !== mount; up = dirname(up)) {
    const pq = readValue(join(up, 'cpu.cfs_quota_us'));
    const pp = readValue(join(up, 'cpu.cfs_period_us'));
    if (pq === undefined || pp === undefined || !/^\d+$/.test(pq) || !/^\d+$/.test(pp)) continue; // -1: no limit of its own, look higher
    if (ratio(BigInt(q), p) <= ratio(BigInt(pq), BigInt(pp))) return;
    throw new UsageError(
      `cpu quota ${q}/${p} µs of ${relative(mount, dir)} is above the quota of ${relative(mount, up) || '/'} (cfs_quota_us ${pq} per cfs_period_us ${pp}): cgroup v1 refuses it (EINVAL)`,
      `give at most ${(BigInt(pq) * p) / BigInt(pp)} per ${p} µs, or raise the parent's quota first (cgroup v2 would cap the group at its parent's instead)`,
    );
  }
}
