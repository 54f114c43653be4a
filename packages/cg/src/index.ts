/**
 * @boxkit/cg as a library (what `run` uses in-process): parse docker-style
 * limits, make a group in every hierarchy its controllers live in, put
 * processes in it, read its accounting, freeze it, remove it.
 */
import { applyPlan, shellQuote, undoAll, type PlanStep } from '@boxkit/common';
import { resolveGroup, type Group, type GroupOptions } from './group.js';
import { planCreate } from './create.js';
import { checkPids, planAttach, planFreeze, planRemove, type RemoveOptions } from './membership.js';
import { controllersFor, type Limits } from './settings.js';
import { formatSize } from './values.js';
import { trace } from '@boxkit/common/stdio';

export { parseLimits, withLimitFlags, noLimits, type LimitFlags } from './limits.js';
export { resolveGroup, dirOf, DEFAULT_GROUP, BOXKIT_SUBTREE, ALL_CONTROLLERS, type Group, type GroupDir, type GroupOptions } from './group.js';
export { detectLayout, hostLayout, type Layout, type Hierarchy, type Controller } from './layout.js';
export { SETTINGS, writesFor, controllersFor, sharesToWeight, weightToShares, type Limits, type IoLimit, type Write } from './settings.js';
export { planCreate, checkSupported } from './create.js';
export { planAttach, planFreeze, planRemove, groupPids, procsOf, checkPids, selfAttachWrites, type RemoveOptions } from './membership.js';
export { groupStats, cpuCores, type GroupStats } from './stats.js';
export { parseSize, parseMemoryLimit, parsePids, parseCpuList, expandCpuList, formatSize } from './values.js';

export interface ApplyFlags {
  dryRun?: boolean;
  verbose?: boolean;
  /** where dry-run / verbose lines go */
  print?: (line: string) => void;
}

/**
 * Make (or update) a group with limits; idempotent. With mode 'create' an
 * existing group with different limits is an error. A failure undoes what
 * this call made. Returns the group with its directory per hierarchy.
 */
export async function createGroup(
  name: string,
  limits: Limits,
  opts: GroupOptions & ApplyFlags & { mode?: 'create' | 'set' } = {},
): Promise<Group> {
  const group = resolveGroup(name, opts);
  await applyPlan(planCreate(group, limits, { mode: opts.mode ?? 'set' }), opts);
  return group;
}

/**
 * Move processes into the group in every hierarchy (all or nothing). The
 * writes are issued together: on cgroup v1 the first move waits for an RCU
 * grace period (cgroup_threadgroup_rwsem) and the others then pass without
 * one, so the whole attach costs about one grace period, which the caller
 * can overlap with other work while the returned promise is pending.
 */
export async function attach(group: Group, pids: number | readonly number[], opts: ApplyFlags = {}): Promise<void> {
  const list = typeof pids === 'number' ? [pids] : pids;
  if (opts.dryRun) return applyPlan(planAttach(group, list), opts);
  checkPids(list);
  const steps = planAttach(group, list);
  if (opts.verbose) for (const s of steps) (opts.print ?? trace)(s.shell);
  const results = await Promise.allSettled(steps.map(async (s) => s.apply()));
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await undoAll(steps.filter((_, i) => results[i]!.status === 'fulfilled'));
    throw failed.reason;
  }
}

/** Remove the group everywhere; with kill/move, deal with the processes left first. Gone already: fine. */
export async function removeGroup(group: Group, opts: RemoveOptions & ApplyFlags = {}): Promise<void> {
  await applyPlan(planRemove(group, opts), opts);
}

/** Freeze or thaw, waiting until the kernel reports the state. */
export async function freezeGroup(group: Group, frozen: boolean, opts: ApplyFlags = {}): Promise<void> {
  await applyPlan(planFreeze(group, frozen), opts);
}

/** Limits back as the flags `cg create` / `run` take. */
export function limitArgs(l: Limits): string[] {
  const a: string[] = [];
  const size = (v: number | 'max') => (v === 'max' ? 'max' : formatSize(v));
  if (l.cpuPeriod !== undefined) a.push('--cpu-period', String(l.cpuPeriod));
  if (l.cpuQuota !== undefined) a.push('--cpu-quota', String(l.cpuQuota));
  if (l.cpuWeight !== undefined) a.push('--cpu-weight', String(l.cpuWeight));
  if (l.cpuShares !== undefined) a.push('--cpu-shares', String(l.cpuShares));
  if (l.memory !== undefined) a.push('--memory', size(l.memory));
  if (l.memorySwap !== undefined) a.push('--memory-swap', size(l.memorySwap));
  if (l.pids !== undefined) a.push('--pids', String(l.pids));
  if (l.cpusetCpus !== undefined) a.push('--cpuset-cpus', l.cpusetCpus);
  if (l.cpusetMems !== undefined) a.push('--cpuset-mems', l.cpusetMems);
  return a;
}

/** The controllers a limit set touches (so callers can make narrower groups). */
export const limitControllers = controllersFor;
