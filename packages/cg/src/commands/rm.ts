/** cg rm: remove a group everywhere; processes left in it need --kill or --move. */
import { existsSync } from 'node:fs';
import { report, warn } from '@boxkit/common';
import { planRemove } from '../membership.js';
import { forgetMaking, makingLock } from '../making.js';
import { apply, groupFrom, groupJson, reportGroup, type GroupArgs } from './common.js';

export async function runRm(a: GroupArgs & { kill?: boolean; move?: boolean }): Promise<number> {
  const g = groupFrom(a);
  // gone already is success (DESIGN: removing what is gone succeeds), but it is not "removed": say so
  const there = [...new Set(g.dirs.map((d) => d.path))].filter((p) => existsSync(p));
  const removed = there.length > 0;
  const steps = planRemove(g, { kill: a.kill ?? false, move: a.move ?? false });
  await apply(a, removed ? steps : [{ shell: `# ${g.name}: no such group (nothing to remove)`, apply: () => {} }]);
  // what a killed `cg create` noted of it goes with it
  if (!a.dryRun && !forgetMaking(g)) {
    const lock = makingLock(g);
    warn('cg', `${g.name}: ${lock} was held by another process for 10s, so a killed create's marker of it may be left (a later create would take a group of that name for its own): end the holder (fuser -v ${lock}), then run this rm again`);
  }
  if (a.dryRun) reportGroup(a, g, 'removed', { removed });
  else report(a, { ...groupJson(g), removed }, () => [removed ? `removed ${g.name}: ${there.join(' ')}` : `${g.name}: no such group (nothing removed)`]);
  return 0;
}
