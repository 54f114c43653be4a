/**
 * Carry out a union plan: one loop (common applyPlan) over steps that each
 * know their syscall, their shell line and their undo, so a failure leaves
 * nothing this invocation made behind.
 */
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { applyPlan, BoxkitError, stateDir, withLock, type PlanStep } from '@boxkit/common';
import { undoAll } from '@boxkit/common/plan';
import { makeDirs, removeMadeDirs } from '@boxkit/common/dirs';
import { mount, MNT, SysError, umount2 } from '@boxkit/native';
import { planUnion, type PlanEnv, type UnionPlan, type UnionStep } from './plan.js';
import { stepShell } from './render.js';
import type { UnionOptions } from './spec.js';
import { fsError, writeHints } from './fserror.js';
import { lastLook } from '@boxkit/common/signals';

/** What a mounted union is made of (the fields of `--json`). */
export interface UnionMount {
  mountpoint: string;
  driver: string;
  lowers: string[];
  upper?: string;
  work?: string;
  readonly: boolean;
  /** false when the same union was already mounted there. */
  mounted: boolean;
}

export interface MountRunOptions {
  dryRun?: boolean;
  verbose?: boolean;
  print?: (line: string) => void;
  /**
   * Stop once this is aborted (unionfs mount aborts it on SIGINT/SIGTERM/SIGHUP): before each step,
   * and between a layer extraction's entries; what was made is undone.
   */
  signal?: AbortSignal;
}

/** The layer store is boxkit's: where it cannot be written, the fix is another data dir. */
function storeHints(store: string): { what: string; hints: ReturnType<typeof writeHints> } {
  const elsewhere = 'point BOXKIT_DATA_DIR at a file system with room for the layer (default /var/lib/boxkit)';
  return {
    what: `extract into the layer store ${store}`,
    hints: {
      ...writeHints(store, elsewhere),
      EROFS: `${store} is on a read-only file system: point BOXKIT_DATA_DIR at a writable directory`,
      EACCES: 'point BOXKIT_DATA_DIR at a directory this user can write to (or run as root)',
      EPERM: 'point BOXKIT_DATA_DIR at a directory this user can write to (or run as root)',
    },
  };
}

/** A missing upper, work dir or mount point that could not be made. */
const MKDIR_HINTS = {
  ENOSPC: 'its file system is full (no space or no inodes left): free some, or give an upper, work dir and mount point elsewhere',
  EDQUOT: 'the disk quota there is used up: give an upper, work dir and mount point elsewhere',
  EROFS: 'its file system is read-only: give an upper, work dir and mount point that exist, or that can be made elsewhere',
  EACCES: 'give an upper, work dir and mount point this user can make (or run as root)',
  EPERM: 'give an upper, work dir and mount point this user can make (or run as root)',
};

function mountError(e: unknown, target: string): unknown {
  if (!(e instanceof SysError)) return e;
  const hint = e.code === 'EPERM' ? 'mounting needs root (CAP_SYS_ADMIN)' : 'overlay logs the reason in the kernel log: dmesg | tail';
  return new BoxkitError(e.code, `mount ${target}: ${e.message.replace(/^mount \S+: /, '')}`, { hint, cause: e });
}

const APPLY: { [K in UnionStep['kind']]: (s: Extract<UnionStep, { kind: K }>, signal?: AbortSignal) => Pick<PlanStep, 'apply' | 'undo'> } = {
  mkdir: (s) => {
    // the directories `mkdir -p` made: the parents it made go too on undo, while empty
    let made: string[] = [];
    return {
      apply: () => {
        try {
          made = makeDirs(s.path);
        } catch (e) {
          throw fsError(e, `mkdir -p ${s.path}`, MKDIR_HINTS);
        }
      },
      undo: () => {
        // the dir itself with what is in it (overlay puts its work/ in the work dir), when this invocation
        // made it; not its parents' other contents: someone may have put theirs beside it meanwhile
        if (made.at(-1) === s.path) rmSync(s.path, { recursive: true, force: true });
        removeMadeDirs(made);
      },
    };
  },
  extract: (s, signal) => {
    // the layers dir (and the data dir above it) when this run made them: they go again with the layer
    let made: string[] = [];
    const removeMade = () => removeMadeDirs(made);
    return {
      apply: async () => {
        const [{ extractLayer }, { sweepStaleLayers }] = await Promise.all([import('./extract.js'), import('./sweep.js')]);
        const writing = storeHints(dirname(s.dir));
        try {
          made = makeDirs(dirname(s.dir));
        } catch (e) {
          throw fsError(e, writing.what, writing.hints);
        }
        // and what killed extractions of any layer left in the store: each could hold a layer's size
        sweepStaleLayers(dirname(s.dir));
        try {
          await extractLayer(s.tar, s.dir, { stamp: s.stamp, writing, ...(signal ? { signal } : {}) });
        } catch (e) {
          removeMade();
          throw e;
        }
      },
      undo: () => {
        rmSync(s.dir, { recursive: true, force: true });
        removeMade();
      },
    };
  },
  mount: (s) => ({
    apply: () => {
      try {
        mount(s.source, s.target, s.fstype, s.flags, s.data);
      } catch (e) {
        throw mountError(e, s.target);
      }
    },
    undo: () => umount2(s.target, MNT.DETACH),
  }),
};

export function toPlanSteps(plan: UnionPlan, signal?: AbortSignal): PlanStep[] {
  return plan.steps.map((s) => {
    const step = (APPLY[s.kind] as (x: UnionStep, signal?: AbortSignal) => Pick<PlanStep, 'apply' | 'undo'>)(s, signal);
    const apply = signal ? () => (signal.throwIfAborted(), step.apply()) : step.apply;
    return { shell: stepShell(s), ...step, apply };
  });
}

export function describeMount(plan: UnionPlan): UnionMount {
  return {
    mountpoint: plan.mountpoint, driver: plan.driver, lowers: plan.lowers,
    ...(plan.upper ? { upper: plan.upper } : {}), ...(plan.work ? { work: plan.work } : {}),
    readonly: plan.readonly, mounted: !plan.already,
  };
}

/** Apply a plan made by planUnion. */
export async function applyUnion(plan: UnionPlan, opts: MountRunOptions = {}): Promise<UnionMount> {
  const steps = toPlanSteps(plan, opts.signal);
  await applyPlan(steps, opts);
  if (opts.signal && !opts.dryRun) {
    // a signal during the steps (all synchronous but an extraction: the mount(2) itself) is seen only now:
    // it undoes the mount as one before it would (see stop.ts)
    try {
      await lastLook(opts.signal);
    } catch (e) {
      await undoAll(steps);
      throw e;
    }
  }
  return describeMount(plan);
}

/**
 * Plan and apply under one lock, so two concurrent mounts of the same union
 * (or extractions of the same layer) cannot both see "not there yet".
 */
export async function lockedUnion<T>(fn: () => T | Promise<T>): Promise<T> {
  const lock = stateDir('unionfs', 'lock');
  try {
    // (made here, not by withLock: its mkdir -p says ENOENT for a parent on a read-only file system)
    makeDirs(dirname(lock));
  } catch (e) {
    const elsewhere = 'point BOXKIT_STATE_DIR at a directory this user can write to (default /run/boxkit)';
    throw fsError(e, `lock ${lock}`, { ...writeHints(dirname(lock), elsewhere), ENOENT: elsewhere, ENOTDIR: elsewhere });
  }
  return withLock(lock, fn);
}

/** Plan and mount a union in one call (the library form of `unionfs mount`). */
export async function mountUnion(opts: UnionOptions, run: MountRunOptions = {}, env: PlanEnv = {}): Promise<UnionMount> {
  if (run.dryRun) return applyUnion(planUnion(opts, env), run);
  return lockedUnion(() => applyUnion(planUnion(opts, env), run));
}
