/**
 * The container's cgroup with its limits, through the cg library: one
 * group named after the container's id (as docker's /docker/<id>: a name
 * is one store's, and two stores or a hand-made `cg create web` would
 * share a group named after it) in every hierarchy, under --cgroup-parent
 * (default: the `boxkit` subtree at each hierarchy's root, like docker's
 * /docker; `self` nests it under the caller's own cgroup, as tests do).
 */
import { existsSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import { BoxkitError, shellQuote } from '@boxkit/common';
import { createGroup, hostLayout, limitArgs, limitControllers, removeGroup, resolveGroup, selfAttachWrites, type Controller, type Group, type Layout } from '@boxkit/cg';
import type { Limits } from './spec.js';

export interface CgroupPlan {
  parent: string;
  name: string;
  limits: Limits;
  /** --privileged: no device rules */
  privileged?: boolean;
}

/**
 * runc's default device rules (libcontainer/specconv AllowedDevices): any
 * device node may be made (CAP_MKNOD is in the default set), but only these
 * opened; without them the container's root could mknod and open the host's
 * disks, /dev/kvm, /dev/tty0... cgroup v1: the devices files; v2: an eBPF
 * program attached to the group (cg builds it from the same lines).
 */
export const DEVICE_RULES = {
  devicesDeny: ['a'],
  devicesAllow: [
    'c *:* m', 'b *:* m', 'c 1:3 rwm', 'c 1:5 rwm', 'c 1:7 rwm', 'c 1:8 rwm', 'c 1:9 rwm',
    'c 5:0 rwm', 'c 5:1 rwm', 'c 5:2 rwm', 'c 136:* rwm', 'c 10:200 rwm',
  ],
};

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

/**
 * The hierarchies a container's group spans: accounting (cpu, cpuacct,
 * memory, pids), freezer (to kill every process of it reliably), devices,
 * and whatever its limits need. Not blkio/cpuset unless asked: each
 * hierarchy costs a mkdir, a write per attach and an rmdir (cpuset also
 * copies cpus/mems down), on every start.
 */
export function controllersOf(limits: Limits): Controller[] {
  return [...new Set<Controller>(['cpu', 'cpuacct', 'memory', 'pids', 'freezer', 'devices', ...limitControllers(limits)])];
}

export function group(parent: string, name: string, limits: Limits = {}): Group {
  return resolveGroup(name, { parent: cgParent(parent), controllers: controllersOf(limits) });
}

/**
 * Create the group with its limits. An existing group is an error, not one to share (cg's
 * idempotent create would take one whose limits match): its processes would be the container's.
 */
export async function createCgroup(c: CgroupPlan): Promise<Group> {
  const opts = { parent: cgParent(c.parent), mode: 'create' as const, controllers: controllersOf(c.limits) };
  const g = resolveGroup(c.name, opts);
  const there = g.dirs.find((d) => existsSync(d.path));
  if (there) throw new BoxkitError('EEXIST', `cgroup ${there.path} exists already`, { hint: 'a leftover of a crashed run (run gc), or made by hand (cg rm)' });
  const devices = !c.privileged && g.dirs.some((d) => d.controllers.includes('devices'));
  return createGroup(c.name, devices ? { ...c.limits, ...DEVICE_RULES } : c.limits, opts);
}

/**
 * What a held trampoline child writes to move itself into the group (its
 * program's first steps): the same result as `cg attach NAME PID` from
 * outside, without the RCU grace period a v1 move from outside waits for.
 */
export function joinWrites(g: Group): { file: string; value: string }[] {
  return selfAttachWrites(g);
}

/**
 * Remove the group (as resolved when it was made: `self` means the creator's
 * cgroup, not the caller's); processes still in it are killed first.
 */
export async function removeCgroup(g: Group | undefined): Promise<void> {
  if (!g) return;
  await removeGroup(g, { kill: true });
}

/** A cgroup filesystem the container mounts under its /sys/fs/cgroup (`target` relative to it; '' is all of it). */
export interface CgroupMount {
  target: string;
  fstype: 'cgroup' | 'cgroup2';
  /** a v1 hierarchy's options as the host mounted it (its controllers, name=): a mount must name the same set */
  data: string;
}

/**
 * The hierarchies the container has a group of its own in, as it mounts them at /sys/fs/cgroup
 * (runc's cgroup mount: a JVM or Go runtime reads its limits there). Mounted inside its cgroup
 * namespace, each shows the container's group as its root; a hierarchy it has no group in would
 * show the caller's (on a host: the root, every other group's name), so it gets none. The mount
 * options are the layout's (cg read mountinfo once for the group already).
 */
export function cgroupfsOf(g: Group, layout: Layout = hostLayout()): CgroupMount[] {
  const out = new Map<string, CgroupMount>();
  for (const d of g.dirs) {
    const target = relative('/sys/fs/cgroup', d.mount);
    const h = layout.hierarchies.find((x) => x.mount === d.mount);
    if (!h || target.startsWith('..') || isAbsolute(target) || out.has(target)) continue;
    out.set(target, h.version === 2 ? { target, fstype: 'cgroup2', data: '' } : { target, fstype: 'cgroup', data: h.options ?? d.controllers.join(',') });
  }
  return [...out.values()];
}
