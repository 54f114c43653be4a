/** cg create / cg set: a group with docker-style limits. */
import { existsSync } from 'node:fs';
import { BoxkitError } from '@boxkit/common';
import { parseLimits, type LimitFlags } from '../limits.js';
import { dirsToMake, planCreate } from '../create.js';
import { adoptable, beginMaking, forgetMaking, makingLock } from '../making.js';
import { limitArgs } from '../index.js';
import type { Limits } from '../settings.js';
import type { Group } from '../group.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';
import { cgLine } from '../group.js';

export async function runCreate(a: GroupArgs & LimitFlags, mode: 'create' | 'set'): Promise<number> {
  const limits = parseLimits(a);
  const g = groupFrom(a);
  if (mode === 'set') {
    // the limits are the user's now: a killed create's marker no longer names a group to finish. Dropped
    // first: where its lock cannot be had, set changes nothing (a marker left would let a later create
    // adopt the group and write its own limits over these)
    if (!a.dryRun && !forgetMaking(g)) {
      const lock = makingLock(g);
      throw new BoxkitError('EBUSY', `cannot set ${g.name}: ${lock} was held by another process for 10s (a cg create stopped midway?); nothing was changed`, {
        hint: `find the holder (fuser -v ${lock}): end it or let it finish (kill -CONT), then run this again`,
      });
    }
    await apply(a, planCreate(g, limits, { mode }));
  } else if (a.dryRun) {
    await apply(a, withFix(g, a, limits, () => planCreate(g, limits, { mode, adopt: adoptable(g) })));
  } else {
    // a killed create of this group left a marker: finish what it began (making.ts)
    const making = beginMaking(g, (adopt) => dirsToMake(g, adopt));
    try {
      await apply(a, withFix(g, a, limits, () => planCreate(g, limits, { mode, adopt: making.adopt })));
    } catch (e) {
      // undone: the marker goes once none of its directories is left (one left stays ours, for the next run)
      if (!making.dirs.some((d) => existsSync(d))) making.done();
      throw e;
    }
    making.done();
  }
  reportGroup(a, g, mode === 'create' ? 'created' : 'set', { limits });
  return 0;
}

/** An existing group with other limits: the hint gives the exact command that sets these. */
function withFix<T>(g: Group, a: GroupArgs, limits: Limits, plan: () => T): T {
  try {
    return plan();
  } catch (e) {
    if (!(e instanceof BoxkitError) || e.code !== 'EEXIST') throw e;
    const set = cgLine(['set', g.name], a.parent, limitArgs(limits));
    const rm = cgLine(['rm', g.name], a.parent);
    throw new BoxkitError('EEXIST', e.message, { hint: `to give it these limits: ${set} (or remove it first: ${rm})` });
  }
}
