/** What every cg command shares: the group from argv, applying with the common flags, and the JSON shape. */
import { applyPlan, report, type CommonArgs, type PlanStep } from '@boxkit/common';
import { dryRunOutput, type DryRunOutput } from '@boxkit/common/output';
import { resolveGroup, type Group } from '../group.js';
import type { Controller } from '../layout.js';

export interface GroupArgs extends CommonArgs {
  group: string;
  parent: string;
}

export function groupFrom(a: GroupArgs, controllers?: readonly Controller[]): Group {
  return resolveGroup(a.group, { parent: a.parent, ...(controllers ? { controllers } : {}) });
}

/** A dry run's lines, kept for reportGroup when they go out as one JSON document (--json). */
let dry: DryRunOutput | undefined;

export async function apply(a: CommonArgs, steps: PlanStep[]): Promise<void> {
  dry = a.dryRun ? dryRunOutput(a) : undefined;
  await applyPlan(steps, { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) });
}

/** The stable JSON shape of a group: name, parent, cgroup (controller -> directory). */
export function groupJson(g: Group): { name: string; parent: string; cgroup: Group['paths']; dirs: string[] } {
  return { name: g.name, parent: g.parent, cgroup: g.paths, dirs: g.dirs.map((d) => d.path) };
}

/** Report a changed group (in --dry-run the plan was the output; with --json, the plan and the group as one document). */
export function reportGroup(a: CommonArgs, g: Group, verb: string, extra: Record<string, unknown> = {}): void {
  if (a.dryRun) return dry?.done({ ...groupJson(g), ...extra });
  report(a, { ...groupJson(g), ...extra }, () => [`${verb} ${g.name}: ${[...new Set(g.dirs.map((d) => d.path))].join(' ')}`]);
}
