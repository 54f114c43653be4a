/**
 * cgroup v1 specifics: a hierarchy per controller, a new cpuset group starts
 * with empty cpus and mems (no task can join until both are set, ENOSPC), so
 * they are copied from the parent, as runc's fs/cpuset.go does; the freezer
 * is freezer.state; usage comes from cpuacct and memory's own files.
 */
import { shellQuote, type PlanStep } from '@boxkit/common';
import { join } from 'node:path';
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
