/**
 * Usage read from the group's own accounting files (cpuacct.usage or
 * cpu.stat usage_usec, memory usage/peak/failcnt/OOM kills, pids): what the
 * kernel charged to the group, honest even when the machine is busy.
 */
import { join } from 'node:path';
import type { Group } from './group.js';
import { readValue } from './steps.js';

export interface GroupStats {
  cpu?: { usageUsec: number; userUsec?: number; systemUsec?: number; nrPeriods?: number; nrThrottled?: number; throttledUsec?: number };
  memory?: { current: number; peak?: number; failcnt?: number; oomKills?: number; oom?: number };
  pids?: { current: number; max: number | 'max'; forkFailures?: number };
  frozen?: boolean;
}

/** `key value` lines (cpu.stat, memory.events, oom_control) -> numbers. */
export function keyed(text: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (text ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && /^-?\d+$/.test(v)) out[k] = Number(v);
  }
  return out;
}

const num = (s: string | undefined): number | undefined => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);
const USER_HZ = 100; // cpuacct.stat counts in USER_HZ ticks (always 100 on Linux)

function clean<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

function cpuStats(g: Group): GroupStats['cpu'] {
  const acct = g.dirs.find((d) => d.controllers.includes('cpuacct'));
  const cpu = g.dirs.find((d) => d.controllers.includes('cpu'));
  if (!acct && !cpu) return undefined;
  if ((acct ?? cpu)!.version === 2) {
    const s = keyed(readValue(join((acct ?? cpu)!.path, 'cpu.stat')));
    if (s.usage_usec === undefined) return undefined;
    return clean({ usageUsec: s.usage_usec, userUsec: s.user_usec, systemUsec: s.system_usec, nrPeriods: s.nr_periods, nrThrottled: s.nr_throttled, throttledUsec: s.throttled_usec });
  }
  const usageNs = acct ? num(readValue(join(acct.path, 'cpuacct.usage'))) : undefined;
  const us = acct ? keyed(readValue(join(acct.path, 'cpuacct.stat'))) : {};
  const t = cpu ? keyed(readValue(join(cpu.path, 'cpu.stat'))) : {};
  if (usageNs === undefined && t.nr_periods === undefined) return undefined;
  return clean({
    usageUsec: Math.round((usageNs ?? 0) / 1000),
    userUsec: us.user !== undefined ? (us.user * 1e6) / USER_HZ : undefined,
    systemUsec: us.system !== undefined ? (us.system * 1e6) / USER_HZ : undefined,
    nrPeriods: t.nr_periods,
    nrThrottled: t.nr_throttled,
    throttledUsec: t.throttled_time !== undefined ? Math.round(t.throttled_time / 1000) : undefined,
  });
}

function memoryStats(g: Group): GroupStats['memory'] {
  const d = g.dirs.find((x) => x.controllers.includes('memory'));
  if (!d) return undefined;
  const r = (f: string) => readValue(join(d.path, f));
  if (d.version === 2) {
    const current = num(r('memory.current'));
    if (current === undefined) return undefined;
    const ev = keyed(r('memory.events'));
    return clean({ current, peak: num(r('memory.peak')), failcnt: ev.max, oomKills: ev.oom_kill, oom: ev.oom });
  }
  const current = num(r('memory.usage_in_bytes'));
  if (current === undefined) return undefined;
  const oc = keyed(r('memory.oom_control'));
  return clean({ current, peak: num(r('memory.max_usage_in_bytes')), failcnt: num(r('memory.failcnt')), oomKills: oc.oom_kill, oom: oc.under_oom });
}

function pidsStats(g: Group): GroupStats['pids'] {
  const d = g.dirs.find((x) => x.controllers.includes('pids'));
  if (!d) return undefined;
  const current = num(readValue(join(d.path, 'pids.current')));
  if (current === undefined) return undefined;
  const max = readValue(join(d.path, 'pids.max'));
  return clean({ current, max: max === 'max' || max === undefined ? 'max' as const : Number(max), forkFailures: keyed(readValue(join(d.path, 'pids.events'))).max });
}

function frozen(g: Group): boolean | undefined {
  const d = g.dirs.find((x) => x.controllers.includes('freezer'));
  if (!d) return undefined;
  if (d.version === 1) {
    const s = readValue(join(d.path, 'freezer.state'));
    return s === undefined ? undefined : s !== 'THAWED';
  }
  const ev = keyed(readValue(join(d.path, 'cgroup.events')));
  return ev.frozen === undefined ? undefined : ev.frozen === 1;
}

/** One reading of the group's accounting. */
export function groupStats(group: Group): GroupStats {
  return clean({ cpu: cpuStats(group), memory: memoryStats(group), pids: pidsStats(group), frozen: frozen(group) });
}

/** CPU use between two readings, in cores (1.0 = one core busy all the time). */
export function cpuCores(a: GroupStats, b: GroupStats, elapsedMs: number): number | undefined {
  if (!a.cpu || !b.cpu || elapsedMs <= 0) return undefined;
  return (b.cpu.usageUsec - a.cpu.usageUsec) / 1000 / elapsedMs;
}
