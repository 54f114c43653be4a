/** unionfs diff: A/C/D lines like docker diff. */
import { report, type CommonArgs } from '@boxkit/common';
import { diffLayers } from '../diff.js';
import { resolveTarget } from '../target.js';

export async function runDiff(a: CommonArgs & { target: string; lower?: string[] }): Promise<number> {
  const t = resolveTarget(a.target, a.lower ?? []);
  const changes = diffLayers(t.upper, t.lowers);
  report(a, { ...t, changes }, () => changes.map((c) => `${c.kind} ${c.path}`));
  return 0;
}
