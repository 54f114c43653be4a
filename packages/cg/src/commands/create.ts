/** cg create / cg set: a group with docker-style limits. */
import { parseLimits, type LimitFlags } from '../limits.js';
import { planCreate } from '../create.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';

export async function runCreate(a: GroupArgs & LimitFlags, mode: 'create' | 'set'): Promise<number> {
  const limits = parseLimits(a);
  const g = groupFrom(a);
  await apply(a, planCreate(g, limits, { mode }));
  reportGroup(a, g, mode === 'create' ? 'created' : 'set', { limits });
  return 0;
}
