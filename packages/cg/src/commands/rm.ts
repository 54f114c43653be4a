/** cg rm: remove a group everywhere; processes left in it need --kill or --move. */
import { planRemove } from '../membership.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';

export async function runRm(a: GroupArgs & { kill?: boolean; move?: boolean }): Promise<number> {
  const g = groupFrom(a);
  await apply(a, planRemove(g, { kill: a.kill ?? false, move: a.move ?? false }));
  reportGroup(a, g, 'removed');
  return 0;
}
