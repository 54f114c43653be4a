/**
 * Where a group lives: one directory per hierarchy that holds one of its
 * controllers. `--parent` picks the base: the hierarchy root in a `boxkit`
 * subtree (default), `self` (the caller's own cgroup in each hierarchy, as
 * tests use), or a relative path below each hierarchy root.
 */
import { shellQuote } from '@boxkit/common/exec';
import { BoxkitError, validateRelPath } from '@boxkit/common';
import { join } from 'node:path';
import { CONTROLLERS, hostLayout, type Controller, type Hierarchy, type Layout } from './layout.js';

export interface GroupDir {
  version: 1 | 2;
  /** hierarchy mount point */
  mount: string;
  /** the group's directory */
  path: string;
  /** the directory it is made under */
  base: string;
  /** the group's controllers this hierarchy serves */
  controllers: Controller[];
}

export interface Group {
  /** the name as given (may contain '/' for nested groups) */
  name: string;
  /** 'root', 'self' or a path below each hierarchy root */
  parent: string;
  dirs: GroupDir[];
  /** controller -> directory */
  paths: Partial<Record<Controller, string>>;
}

export interface GroupOptions {
  /** 'root' (default: <mount>/boxkit), 'self', or a relative path */
  parent?: string;
  /** the controllers the group spans (default: every controller the host has, but hugetlb) */
  controllers?: readonly Controller[];
  layout?: Layout;
}

/** The default group of per-controller commands (`cg cpu --quota 50000`). */
export const DEFAULT_GROUP = 'default';
/** The subtree groups are made in when --parent is not given. */
export const BOXKIT_SUBTREE = 'boxkit';
export const ALL_CONTROLLERS: readonly Controller[] = CONTROLLERS.filter((c) => c !== 'hugetlb');

/** The directory groups live under for --parent in hierarchy h (a path is checked: it must not climb out). */
export function baseDir(h: Hierarchy, parent: string): string {
  if (parent === 'root') return join(h.mount, BOXKIT_SUBTREE);
  if (parent === 'self') return join(h.mount, h.self);
  if (parent === '/') return h.mount;
  return join(h.mount, validateRelPath('parent', parent));
}

/** Resolve a group name to its directories. Validates the name (exit 2 on '..', '/' at the ends, NUL). */
export function resolveGroup(name: string, opts: GroupOptions = {}): Group {
  const rel = validateRelPath('group', name);
  const layout = opts.layout ?? hostLayout();
  const parent = opts.parent ?? 'root';
  if (parent !== 'root' && parent !== 'self' && parent !== '/') validateRelPath('parent', parent);
  const wanted = opts.controllers ?? ALL_CONTROLLERS;
  const dirs: GroupDir[] = [];
  const paths: Group['paths'] = {};
  for (const h of layout.hierarchies) {
    const controllers = h.controllers.filter((c) => wanted.includes(c));
    if (!controllers.length) continue;
    const base = baseDir(h, parent);
    const path = join(base, rel);
    dirs.push({ version: h.version, mount: h.mount, path, base, controllers });
    for (const c of controllers) paths[c] = path;
  }
  if (!dirs.length) {
    throw new BoxkitError('ENOCTRL', `group ${rel}: this host has none of the controllers ${wanted.join(', ')}`, {
      hint: 'see /proc/self/mountinfo: no cgroup hierarchy holds them',
    });
  }
  return { name: rel, parent, dirs, paths };
}

/** The directory for a controller, or an error saying the host lacks it. */
export function dirOf(group: Group, c: Controller): string {
  const p = group.paths[c];
  if (!p) throw new BoxkitError('ENOCTRL', `${c}: no cgroup hierarchy on this host holds the ${c} controller`, { hint: 'see /proc/self/mountinfo and cgroup.controllers' });
  return p;
}

/** The hierarchy version serving a controller for this group. */
export function versionOf(group: Group, c: Controller): 1 | 2 | undefined {
  return group.dirs.find((d) => d.controllers.includes(c))?.version;
}

/**
 * A cg command for a hint, to paste as it is: shell-quoted, with --parent
 * unless it is the default (without it the group is looked for, or made,
 * under boxkit/ instead).
 */
export function cgLine(words: readonly string[], parent: string | undefined, rest: readonly string[] = []): string {
  return shellQuote(['cg', ...words, ...(parent && parent !== 'root' ? ['--parent', parent] : []), ...rest]);
}
