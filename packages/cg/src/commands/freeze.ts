/** cg freeze / cg thaw. */
import { existsSync } from 'node:fs';
import { BoxkitError } from '@boxkit/common';
import { planFreeze } from '../membership.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';

export async function runFreeze(a: GroupArgs, frozen: boolean): Promise<number> {
  const g = groupFrom(a, ['freezer']);
  const missing = g.dirs.find((d) => !existsSync(d.path));
  if (missing) throw new BoxkitError('ENOENT', `group ${g.name} does not exist (${missing.path})`, { hint: "see 'cg ls' (and --parent)" });
  await apply(a, planFreeze(g, frozen));
  reportGroup(a, g, frozen ? 'frozen' : 'thawed', { frozen });
  return 0;
}
