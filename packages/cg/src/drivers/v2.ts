/**
 * cgroup v2 specifics: controllers must be enabled in every ancestor's
 * cgroup.subtree_control, and the "no internal processes" rule (a non-root
 * cgroup that enables controllers for its children cannot hold processes:
 * EBUSY) is checked before anything changes, with an error that says so.
 */
import { BoxkitError, shellQuote, type PlanStep } from '@boxkit/common';
import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { readValue, writeStep, writeValue } from '../steps.js';
import { V2_PROVIDER, type Controller } from '../layout.js';

const words = (s: string | undefined): string[] => (s ?? '').split(/\s+/).filter(Boolean);

/** The v2 controllers (subtree_control names) a group's controllers need. */
export function enableNames(controllers: readonly Controller[]): string[] {
  return [...new Set(controllers.map((c) => V2_PROVIDER[c].enable).filter((x): x is string => !!x))];
}

/**
 * Steps that make `level` hand `names` down to its children. `level` exists
 * already unless `isNew`. Throws before any change when the rule forbids it.
 */
export function enableStepsV2(mount: string, level: string, names: readonly string[], isNew: boolean, fromParent: readonly string[] = []): PlanStep[] {
  if (!names.length) return [];
  const enabled = isNew ? [] : words(readValue(join(level, 'cgroup.subtree_control')));
  const missing = names.filter((n) => !enabled.includes(n));
  if (!missing.length) return [];
  if (!isNew) {
    // what the parent is about to hand down (an earlier step of this plan) counts as available
    const available = [...words(readValue(join(level, 'cgroup.controllers'))), ...fromParent];
    const absent = missing.filter((n) => !available.includes(n));
    if (absent.length) {
      throw new BoxkitError('ENOCTRL', `${level}: controller ${absent.join(', ')} is not available here (cgroup.controllers: ${words(readValue(join(level, 'cgroup.controllers'))).join(' ') || 'none'})`, {
        hint: 'the parent does not delegate it; choose another --parent or enable it higher up',
      });
    }
    const procs = words(readValue(join(level, 'cgroup.procs')));
    if (level !== mount && procs.length) {
      throw new BoxkitError('CG_INTERNAL_PROCESSES', `${level} holds ${procs.length} process(es), so cgroup v2 cannot enable ${missing.join(', ')} for groups under it (no internal processes rule)`, {
        hint: `make groups beside the caller instead (e.g. --parent ${relative(mount, join(level, '..')) || '/'}), or move the processes into a leaf group first`,
      });
    }
  }
  const file = join(level, 'cgroup.subtree_control');
  const on = missing.map((n) => `+${n}`).join(' ');
  const off = missing.map((n) => `-${n}`).join(' ');
  return [{
    shell: `echo ${shellQuote([on])} > ${shellQuote([file])}`,
    apply: () => writeValue(file, on),
    undo: () => (existsSync(file) ? writeValue(file, off) : undefined),
  }];
}

export const FREEZER_V2 = {
  file: 'cgroup.freeze',
  value: (frozen: boolean) => (frozen ? '1' : '0'),
  isFrozen: (dir: string) => /^frozen 1$/m.test(readValue(join(dir, 'cgroup.events')) ?? ''),
  isThawed: (dir: string) => /^frozen 0$/m.test(readValue(join(dir, 'cgroup.events')) ?? ''),
};

/**
 * memory.max for a group that exists. Below the group's usage, v2 reclaims
 * and then OOM-kills the group's processes until it fits, where v1's
 * memory.limit_in_bytes reclaims and then refuses (EBUSY): cg answers as v1
 * on both, since lowering a limit is not how a user means to kill processes
 * (`cg rm --kill` is). It asks memory.reclaim (5.19+) for the difference
 * first, so page cache and other reclaimable memory does not count against it.
 */
export function memoryMaxStepV2(file: string, value: string, restore?: string): PlanStep {
  const step = writeStep(file, value, restore);
  const write = step.apply;
  step.apply = () => {
    if (/^\d+$/.test(value)) fitsOrRefuse(dirname(file), file, Number(value));
    return write();
  };
  return step;
}

function fitsOrRefuse(dir: string, file: string, limit: number): void {
  const usage = () => Number(readValue(join(dir, 'memory.current')) ?? 0);
  if (usage() <= limit) return;
  try {
    writeFileSync(join(dir, 'memory.reclaim'), String(usage() - limit));
  } catch {
    // EAGAIN: less than asked could be reclaimed; ENOENT: a kernel before 5.19. The usage says which.
  }
  const now = usage();
  if (now <= limit) return;
  throw new BoxkitError('CG_EBUSY', `write ${JSON.stringify(String(limit))} to ${file}: EBUSY`, {
    hint: `the group uses ${now} bytes and could not reclaim down to ${limit}: cgroup v2 would OOM-kill its processes (v1 refuses, as cg does on both); stop some, or 'cg rm --kill' the group`,
  });
}

/**
 * cpu.max holds quota and period together, where v1 has a file for each: a
 * change of one must keep the other's current value, as on v1 (`--quota`
 * alone wrote the default period, `--period` alone wrote quota max, undoing
 * a limit). `wanted` is what the settings table rendered for a new group.
 */
export function cpuMaxKeeping(wanted: string, current: string | undefined, quotaGiven: boolean, periodGiven: boolean): string {
  const [curQuota, curPeriod] = words(current);
  if (!curQuota || !curPeriod || (quotaGiven && periodGiven)) return wanted;
  const [quota, period] = words(wanted);
  return quotaGiven ? `${quota} ${curPeriod}` : `${curQuota} ${period}`;
}
