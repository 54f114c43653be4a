/**
 * The container's cgroup with its limits, through the cg library: one
 * group `boxkit-<name>` in every hierarchy, under --cgroup-parent
 * (default: the `boxkit` subtree at each hierarchy's root, like docker's
 * /docker; `self` nests it under the caller's own cgroup, as tests do).
 */
import { shellQuote } from '@boxkit/common';
import { attach, createGroup, limitArgs, removeGroup, resolveGroup, type Group } from '@boxkit/cg';
import type { Limits } from './spec.js';

export interface CgroupPlan {
  parent: string;
  name: string;
  limits: Limits;
}

/** cg's name for the default subtree is 'root' (its `boxkit` directory). */
const cgParent = (p: string): string => (p === 'boxkit' ? 'root' : p);

export function cgroupShell(c: CgroupPlan): string {
  const parent = cgParent(c.parent) === 'root' ? [] : ['--parent', c.parent];
  return shellQuote(['cg', 'create', c.name, ...parent, ...limitArgs(c.limits)]);
}

export function attachShell(c: CgroupPlan, pid: string): string {
  const parent = cgParent(c.parent) === 'root' ? [] : ['--parent', c.parent];
  return `${shellQuote(['cg', 'attach', c.name, ...parent])} ${pid}`;
}

export function group(parent: string, name: string): Group {
  return resolveGroup(name, { parent: cgParent(parent) });
}

/** Create the group with its limits; an existing group of that name is an error (a leftover: run gc). */
export async function createCgroup(c: CgroupPlan): Promise<Group> {
  return createGroup(c.name, c.limits, { parent: cgParent(c.parent), mode: 'create' });
}

export async function attachCgroup(g: Group, pid: number): Promise<void> {
  await attach(g, pid);
}

/**
 * Remove the group (as resolved when it was made: `self` means the creator's
 * cgroup, not the caller's); processes still in it are killed first.
 */
export async function removeCgroup(g: Group | undefined): Promise<void> {
  if (!g) return;
  await removeGroup(g, { kill: true });
}
