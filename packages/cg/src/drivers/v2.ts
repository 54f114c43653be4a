/**
 * cgroup v2 specifics: controllers must be enabled in every ancestor's
 * cgroup.subtree_control, and the "no internal processes" rule (a non-root
 * cgroup that enables controllers for its children cannot hold processes:
 * EBUSY) is checked before anything changes, with an error that says so.
 */
import { BoxkitError, shellQuote, type PlanStep } from '@boxkit/common';
import { existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { readValue, writeValue } from '../steps.js';
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
