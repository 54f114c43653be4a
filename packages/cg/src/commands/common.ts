/** What every cg command shares: the group from argv, applying with the common flags, and the JSON shape. */
import { applyPlan, report, type CommonArgs, type PlanStep } from '@boxkit/common';
import { resolveGroup, type Group } from '../group.js';
import type { Controller } from '../layout.js';

export interface GroupArgs extends CommonArgs {
  group: string;
  parent: string;
}

export function groupFrom(a: GroupArgs, controllers?: readonly Controller[]): Group {
  return resolveGroup(a.group, { parent: a.parent, ...(controllers ? { controllers } : {}) });
}

export async function apply(a: CommonArgs, steps: PlanStep[]): Promise<void> {
  await applyPlan(steps, { dryRun: a.dryRun, verbose: a.verbose });
}

/** The stable JSON shape of a group: name, parent, cgroup (controller -> directory). */
export function groupJson(g: Group): { name: string; parent: string; cgroup: Group['paths']; dirs: string[] } {
  return { name: g.name, parent: g.parent, cgroup: g.paths, dirs: g.dirs.map((d) => d.path) };
}

/** Report a changed group (nothing in --dry-run: the plan was the output). */
export function reportGroup(a: CommonArgs, g: Group, verb: string, extra: Record<string, unknown> = {}): void {
  if (a.dryRun) return;
  report(a, { ...groupJson(g), ...extra }, () => [`${verb} ${g.name}: ${[...new Set(g.dirs.map((d) => d.path))].join(' ')}`]);
}
