/** cg freeze / cg thaw. */
import { planFreeze } from '../membership.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';

export async function runFreeze(a: GroupArgs, frozen: boolean): Promise<number> {
  const g = groupFrom(a, ['freezer']);
  await apply(a, planFreeze(g, frozen));
  reportGroup(a, g, frozen ? 'frozen' : 'thawed', { frozen });
  return 0;
}
