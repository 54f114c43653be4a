/**
 * Docker-style limit flags (shared with `run`) -> Limits. All checks happen
 * here, before anything is written: a bad value exits 2.
 */
import { UsageError } from '@boxkit/common';
import type { Argv } from 'yargs';
import type { Limits } from './settings.js';
import {
  cpusToQuota, DEFAULT_PERIOD_US, parseCpuList, parseIntIn, parseMemoryLimit, parsePeriod, parsePids, parseQuota,
} from './values.js';

/** The flags, as docker run and `run` spell them. */
export interface LimitFlags {
  cpus?: string | number;
  cpuQuota?: string | number;
  cpuPeriod?: string | number;
  cpuWeight?: string | number;
  cpuShares?: string | number;
  memory?: string | number;
  memorySwap?: string | number;
  pids?: string | number;
  cpusetCpus?: string | number;
  cpusetMems?: string | number;
}

/** Parse docker-style flags into Limits; throws UsageError on any bad value or combination. */
export function parseLimits(f: LimitFlags): Limits {
  const l: Limits = {};
  if (f.cpus !== undefined && f.cpuQuota !== undefined) throw new UsageError('--cpus and --cpu-quota cannot be used together');
  if (f.cpuWeight !== undefined && f.cpuShares !== undefined) throw new UsageError('--cpu-weight and --cpu-shares cannot be used together');
  if (f.cpuPeriod !== undefined) l.cpuPeriod = parsePeriod(f.cpuPeriod);
  if (f.cpuQuota !== undefined) l.cpuQuota = parseQuota(f.cpuQuota);
  if (f.cpus !== undefined) {
    l.cpuPeriod ??= DEFAULT_PERIOD_US;
    l.cpuQuota = cpusToQuota(f.cpus, l.cpuPeriod);
  }
  if (f.cpuWeight !== undefined) l.cpuWeight = parseIntIn('cpu weight', f.cpuWeight, 1, 10000);
  if (f.cpuShares !== undefined) l.cpuShares = parseIntIn('cpu shares', f.cpuShares, 2, 262144);
  if (f.memory !== undefined) l.memory = parseMemoryLimit('memory limit', f.memory);
  if (f.memorySwap !== undefined) {
    l.memorySwap = parseMemoryLimit('memory+swap limit', f.memorySwap);
    if (l.memory === undefined) throw new UsageError('--memory-swap needs --memory', 'docker semantics: --memory-swap is memory plus swap');
    if (l.memorySwap !== 'max' && (l.memory === 'max' || l.memorySwap < l.memory)) {
      throw new UsageError(`--memory-swap ${f.memorySwap} is smaller than --memory ${f.memory}`, '--memory-swap is memory plus swap; use max for unlimited swap');
    }
  }
  if (f.pids !== undefined) l.pids = parsePids('pids limit', f.pids);
  if (f.cpusetCpus !== undefined) l.cpusetCpus = parseCpuList('cpuset cpus', f.cpusetCpus);
  if (f.cpusetMems !== undefined) l.cpusetMems = parseCpuList('cpuset mems', f.cpusetMems);
  return l;
}

/** The docker-style limit flags, each taking a value: one table for the yargs wiring and cg's fast path. */
export const LIMIT_OPTIONS: readonly { name: string; short?: string; describe: string }[] = [
  { name: 'cpus', describe: 'CPUs the group may use (1.5 = 150000 µs per 100000 µs)' },
  { name: 'cpu-quota', describe: 'CPU time per period in µs (>= 1000, or max)' },
  { name: 'cpu-period', describe: `CFS period in µs (1000..1000000, default ${DEFAULT_PERIOD_US})` },
  { name: 'cpu-weight', describe: 'relative CPU weight 1..10000 (v1: cpu.shares = weight*1024/100)' },
  { name: 'cpu-shares', describe: 'relative CPU shares 2..262144 (v2: converted to cpu.weight)' },
  { name: 'memory', short: 'm', describe: 'memory limit: 512K, 64M, 1G or max' },
  { name: 'memory-swap', describe: 'memory+swap limit (docker semantics), or max' },
  { name: 'pids', describe: 'maximum number of processes (pids.max): 1..4194304, or max' },
  { name: 'cpuset-cpus', describe: 'CPUs the group may run on: 0, 0-1, 0,2' },
  { name: 'cpuset-mems', describe: 'memory nodes the group may use' },
];

/** Add the docker-style limit flags to a yargs command (shared by create, exec and `run`). */
export function withLimitFlags<T>(y: Argv<T>): Argv<T & LimitFlags> {
  for (const o of LIMIT_OPTIONS) y = y.option(o.name, { type: 'string', describe: o.describe, ...(o.short ? { alias: o.short } : {}) }) as Argv<T>;
  return y.group(LIMIT_OPTIONS.map((o) => o.name), 'Limits:') as Argv<T & LimitFlags>;
}

/** True when no limit is set. */
export function noLimits(l: Limits): boolean {
  return Object.values(l).every((v) => v === undefined);
}
