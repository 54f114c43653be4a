/**
 * Planning a group with limits: mkdir the missing directories in every
 * hierarchy (enabling v2 controllers on the way down, copying v1 cpusets),
 * then the writes from the settings table. Checks that the host can honour
 * every setting before any step runs.
 */
import { BoxkitError, EXIT, type PlanStep } from '@boxkit/common';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import type { Group, GroupDir } from './group.js';
import { versionOf } from './group.js';
import { SETTINGS, writesFor, type Limits, type Write } from './settings.js';
import { PAGE_BYTES } from './values.js';
import { mkdirStep, readValue, writeStep } from './steps.js';
import { afterMkdirV1, checkQuotaFitsV1 } from './drivers/v1.js';
import { cpuMaxKeeping, enableNames, enableStepsV2, memoryMaxStepV2 } from './drivers/v2.js';
import { devicesStepV2 } from './drivers/devices-v2.js';

export interface PlanCreateOptions {
  /**
   * 'create': an existing group must already have these limits (idempotent
   * create; a conflict is an error). 'set': write them (per-controller
   * commands, exec). Default 'set'.
   */
  mode?: 'create' | 'set';
  /**
   * Directories a killed `cg create` of this group made (making.ts): made
   * again as new ones (every limit written, removed on failure), not judged
   * as an existing group's.
   */
  adopt?: ReadonlySet<string>;
}

/** Every setting must be something this host can honour; say why not otherwise. */
export function checkSupported(group: Group, limits: Limits): void {
  for (const [key, spec] of Object.entries(SETTINGS) as [keyof Limits, (typeof SETTINGS)[keyof Limits]][]) {
    if (limits[key] === undefined) continue;
    const v = versionOf(group, spec.controller);
    if (v === undefined) {
      throw new BoxkitError('ENOCTRL', `${key}: no cgroup hierarchy on this host holds the ${spec.controller} controller`, { hint: 'see /proc/self/mountinfo' });
    }
    const f = v === 1 ? spec.v1 : spec.v2;
    if (!('file' in f)) continue; // a program, not a file (drivers/devices-v2.ts)
    // memsw files exist only with swap accounting; the hierarchy root shows whether it is on
    if (v === 1 && f.file.startsWith('memory.memsw')) {
      const mount = group.dirs.find((d) => d.controllers.includes(spec.controller))!.mount;
      if (!existsSync(join(mount, f.file))) {
        throw new BoxkitError('ENOTSUP', `${key}: ${join(mount, f.file)} does not exist: swap accounting is off (boot with swapaccount=1)`, { exitCode: EXIT.USAGE });
      }
    }
    if (v === 2 && f.file === 'memory.swap.max') checkSwapV2(group.dirs.find((d) => d.controllers.includes(spec.controller))!);
  }
}

/**
 * v2 has memory.swap.max only with swap accounting (CONFIG_SWAP, not
 * swapaccount=0 on older kernels), in every non-root group with the memory
 * controller, never in the root. A group made without it failed at that
 * write, after the mkdirs: the evidence is read first, from the nearest
 * existing group above (or at) the new one that has memory.max, else from a
 * group at the top of the hierarchy (systemd's slices). With no such group
 * anywhere nothing tells, and the write itself decides.
 */
function checkSwapV2(d: GroupDir): void {
  const near: string[] = [];
  for (let dir = d.path; dir.startsWith(`${d.mount}/`); dir = dirname(dir)) near.push(dir);
  let top: string[] = [];
  try {
    top = readdirSync(d.mount, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d.mount, e.name));
  } catch {
    // an unreadable root: only the groups above tell
  }
  const witness = [...near, ...top].find((dir) => existsSync(join(dir, 'memory.max')));
  if (witness && !existsSync(join(witness, 'memory.swap.max'))) {
    throw new BoxkitError('ENOTSUP', `memorySwap: ${join(witness, 'memory.max')} has no memory.swap.max beside it: this kernel has no swap accounting on cgroup v2`, {
      exitCode: EXIT.USAGE,
      hint: 'give --memory alone (swap then stays unlimited), or use a kernel with CONFIG_SWAP and swap accounting',
    });
  }
}

/** The directories from the hierarchy mount down to dir (exclusive of the mount). */
function chain(d: GroupDir): string[] {
  const rel = relative(d.mount, d.path).split('/').filter(Boolean);
  return rel.map((_, i) => join(d.mount, ...rel.slice(0, i + 1)));
}

// v1 reads back "no limit" as -1 or as a huge page-rounded number; v2 as max
const UNLIMITED = (s: string) => s === 'max' || s === '-1' || (/^\d+$/.test(s) && Number(s) >= 2 ** 62);
// memory files count pages: a byte count reads back rounded down to a page (v1 and v2 alike)
const MEMORY_BYTES = /^memory\.(limit_in_bytes|memsw\.limit_in_bytes|soft_limit_in_bytes|max|high|swap\.max)$/;
function sameValue(current: string | undefined, wanted: string, file: string): boolean {
  if (current === undefined) return false;
  if (UNLIMITED(current) && UNLIMITED(wanted)) return true;
  if (MEMORY_BYTES.test(file) && /^\d+$/.test(current) && /^\d+$/.test(wanted)) {
    return Number(current) === Math.floor(Number(wanted) / PAGE_BYTES) * PAGE_BYTES;
  }
  return current.replace(/\s+/g, ' ') === wanted.replace(/\s+/g, ' ');
}

function dirWrites(group: Group, d: GroupDir, limits: Limits): Write[] {
  return writesFor(limits, (c) => versionOf(group, c)).filter((w) => d.controllers.includes(w.controller));
}

/**
 * A new memory limit alone keeps the group's swap allowance on v2, where
 * memory.swap.max is a file of its own. v1 keeps memory+swap in one file,
 * which the old value then capped: raising the limit above it (or to max)
 * was EINVAL, lowering it grew the allowance. So on v1 memsw moves with
 * the limit, keeping the allowance (memsw - memory) as v2 does.
 */
function keepSwapAllowanceV1(limits: Limits, dir: string): Limits {
  if (limits.memory === undefined || limits.memorySwap !== undefined) return limits;
  const mem = readValue(join(dir, 'memory.limit_in_bytes'));
  const memsw = readValue(join(dir, 'memory.memsw.limit_in_bytes'));
  if (mem === undefined || memsw === undefined || UNLIMITED(memsw) || !/^\d+$/.test(mem) || !/^\d+$/.test(memsw)) return limits;
  return { ...limits, memorySwap: limits.memory === 'max' ? 'max' : limits.memory + (Number(memsw) - Number(mem)) };
}

/**
 * v1 refuses, at every single write, a memory limit above memory+swap
 * (EINVAL): raising both needs memsw first, lowering both memory first.
 * memsw goes first when its new value is not below the current memory
 * limit (runc's order), which is valid whichever way the values move.
 */
function v1MemoryOrder(writes: Write[], dir: string): Write[] {
  const mem = writes.findIndex((w) => w.file === 'memory.limit_in_bytes');
  const sw = writes.findIndex((w) => w.file === 'memory.memsw.limit_in_bytes');
  if (mem < 0 || sw < 0 || sw < mem) return writes;
  const current = readValue(join(dir, 'memory.limit_in_bytes'));
  const wanted = writes[sw]!.values[0]!;
  const swapFirst = wanted === '-1' || (current !== undefined && /^\d+$/.test(current) && /^\d+$/.test(wanted) && BigInt(wanted) >= BigInt(current));
  if (!swapFirst) return writes;
  const out = writes.filter((_, i) => i !== sw);
  out.splice(mem, 0, writes[sw]!);
  return out;
}

/** The directories planCreate makes (outermost first in each hierarchy), `adopt`ed ones included. */
export function dirsToMake(group: Group, adopt: ReadonlySet<string> = new Set()): string[] {
  return group.dirs.flatMap((d) => chain(d).filter((dir) => adopt.has(dir) || !existsSync(dir)));
}

/** The plan that makes `group` exist with `limits`. */
export function planCreate(group: Group, limits: Limits, opts: PlanCreateOptions = {}): PlanStep[] {
  checkSupported(group, limits);
  const steps: PlanStep[] = [];
  for (const d of group.dirs) {
    if (d.version === 1 && d.controllers.includes('cpu')) checkQuotaFitsV1(d.mount, d.path, limits.cpuQuota, limits.cpuPeriod);
  }
  const there = (dir: string) => existsSync(dir) && !opts.adopt?.has(dir);
  for (const d of group.dirs) {
    const existed = there(d.path);
    const names = d.version === 2 ? enableNames(d.controllers) : [];
    // v2: every level from the root down hands the controllers to the next (cgroup.subtree_control)
    let handed: string[] = [];
    const enable = (dir: string, isNew: boolean) => {
      const s = enableStepsV2(d.mount, dir, names, isNew, handed);
      steps.push(...s);
      handed = s.length ? [...names] : [];
    };
    if (d.version === 2) enable(d.mount, false);
    for (const dir of chain(d)) {
      const isNew = !there(dir);
      if (isNew) {
        steps.push(mkdirStep(dir));
        if (d.version === 1) steps.push(...afterMkdirV1(dir, dirname(dir), d.controllers));
      }
      if (d.version === 2 && dir !== d.path) enable(dir, isNew);
    }
    const own = existed && d.version === 1 && d.controllers.includes('memory') ? keepSwapAllowanceV1(limits, d.path) : limits;
    const writes = dirWrites(group, d, own);
    for (let w of existed && d.version === 1 ? v1MemoryOrder(writes, d.path) : writes) {
      const file = join(d.path, w.file);
      const current = existed ? readValue(file) : undefined;
      if (existed && d.version === 2 && w.file === 'cpu.max') {
        w = { ...w, values: w.values.map((v) => cpuMaxKeeping(v, current, limits.cpuQuota !== undefined, limits.cpuPeriod !== undefined)) };
      }
      if (existed && opts.mode === 'create' && w.values.length === 1 && !sameValue(current, w.values[0]!, w.file)) {
        throw new BoxkitError('EEXIST', `group ${group.name} exists with ${w.file}=${current ?? '?'}, not ${w.values[0]}`, {
          hint: `change it with 'cg set ${group.name} ...' or remove it first ('cg rm ${group.name}')`,
        });
      }
      const restore = existed && w.values.length === 1 && current !== undefined && !current.includes('\n') ? current : undefined;
      const step = existed && d.version === 2 && w.file === 'memory.max' ? memoryMaxStepV2 : writeStep;
      for (const v of w.values) steps.push(step(file, v, restore));
    }
    if (d.version === 2 && d.controllers.includes('devices') && (limits.devicesDeny || limits.devicesAllow)) {
      steps.push(devicesStepV2(d, existed, limits.devicesDeny, limits.devicesAllow));
    }
  }
  return steps;
}
