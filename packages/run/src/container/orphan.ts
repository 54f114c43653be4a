/**
 * A container whose record is gone (removed by hand, or forgotten by rm -f
 * when it was damaged) leaves an orphan: its data dir, and what its id
 * names (its cgroup, its host veth). run gc finds out whether anything of
 * it still runs, and removes the rest.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { shellQuote } from '@boxkit/common';
import { warn } from '@boxkit/common/output';
import { removeGroup, type Group } from '@boxkit/cg';
import { group } from './cgroup.js';
import { teardownNetwork } from './network.js';
import { hostVethName } from '../state/names.js';

/**
 * A process whose root is the mount at `dir` (a container's PID 1 after
 * pivot_root, or anything it started), or undefined when `dir` is no mount
 * point or nobody has it as root: an overlay's directories carry its own
 * st_dev, which /proc/PID/root/ of a process rooted in it shows.
 */
function rootOf(dir: string): number | undefined {
  let dev: number;
  try {
    dev = statSync(dir).dev;
    if (dev === statSync(dirname(dir)).dev) return undefined;
  } catch {
    return undefined;
  }
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (statSync(`/proc/${p}/root/`).dev === dev) return Number(p);
    } catch {
      // gone, or a kernel thread
    }
  }
  return undefined;
}

/** A container id (newId): what names its cgroup and its host veth. */
export const ID = /^[0-9a-f]{12}$/;

/**
 * What a container whose record is gone may still hold, named by its id:
 * its group under the default parent or gc's own (the parent it had was in
 * the record), and its host veth with netsetup's record of it (lease, ports).
 */
export interface OrphanParts {
  groups: { group: Group; shell: string }[];
  hostVeth: string;
  vethShell: string;
}

export function orphanParts(id: string): OrphanParts {
  const groups = ['boxkit', 'self'].map((parent) => {
    const g = group(parent, id);
    return { group: g, shell: shellQuote(['cg', 'rm', id, ...(parent === 'boxkit' ? [] : ['--parent', parent])]) };
  }).filter((x) => x.group.dirs.some((dir) => existsSync(dir.path)));
  const hostVeth = hostVethName(id);
  return { groups, hostVeth, vethShell: shellQuote(['netsetup', 'down', '--host-ifname', hostVeth]) };
}

/** A process in the group (any of its directories), or undefined. */
function firstProcess(g: Group): number | undefined {
  for (const d of g.dirs) {
    try {
      const pid = readFileSync(join(d.path, 'cgroup.procs'), 'utf8').split('\n').find(Boolean);
      if (pid) return Number(pid);
    } catch {
      // not there
    }
  }
  return undefined;
}

/** Remove them; processes left in a group (none, its root unused) keep it, with a warning. */
export async function removeOrphanParts(id: string, parts: OrphanParts): Promise<void> {
  for (const { group: g } of parts.groups) {
    await removeGroup(g).catch((e: unknown) => warn('run', `warning: ${id}: its cgroup was not removed: ${(e as Error).message.split('\n')[0]}`));
  }
  await teardownNetwork({ mode: 'bridge', hostVeth: parts.hostVeth }).catch((e: unknown) => warn('run', `warning: ${id}: its network was not removed: ${(e as Error).message.split('\n')[0]}`));
}

/**
 * A process of the orphan `id` that still runs, or undefined: one rooted in
 * its union, or one in a group its id names (seen from any pid or mount
 * namespace, where the root's st_dev may not be).
 */
export function orphanAlive(rootfs: string, parts: OrphanParts | undefined): number | undefined {
  return rootOf(rootfs) ?? parts?.groups.map((g) => firstProcess(g.group)).find((p) => p !== undefined);
}
