/** unionfs diff: A/C/D lines like docker diff. */
import { report, type CommonArgs } from '@boxkit/common';
import { diffLayers } from '../diff.js';
import { lowersThere, resolveTarget } from '../target.js';
import { refuseEmpty } from '../paths.js';

export async function runDiff(a: CommonArgs & { target: string; lower?: string[]; driver?: string }): Promise<number> {
  refuseEmpty('MOUNTPOINT|UPPER', a.target, 'a union mount point or an upper dir');
  refuseEmpty('--lower', a.lower, 'a directory');
  const t = resolveTarget(a.target, a.lower ?? [], undefined, a.driver);
  lowersThere(t);
  const changes = diffLayers(t.upper, t.lowers, t.driver);
  report(a, { ...t, changes }, () => changes.map((c) => `${c.kind} ${c.path}`));
  return 0;
}
