import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { report } from '@boxkit/common/output';
import { ensureNat, removeNat } from '../nat.js';

export async function natCommand(a: CommonArgs & { cidr: string; rm?: string; outIf?: string }): Promise<number> {
  const opts = { dryRun: a.dryRun, verbose: a.verbose };
  if (a.cidr === 'rm' || a.cidr === 'del') {
    if (!a.rm) throw new UsageError('nat rm: a network is required', 'netsetup nat rm 10.10.15.0/24');
    const r = await removeNat(a.rm, opts);
    if (!a.dryRun) report(a, r, () => [r.changed ? `removed nat for ${r.cidr}` : `nat for ${r.cidr} was already gone`]);
    return 0;
  }
  if (a.rm !== undefined) throw new UsageError(`unexpected argument '${a.rm}'`);
  const r = await ensureNat(a.cidr, { ...opts, ...(a.outIf ? { outIf: a.outIf } : {}) });
  if (!a.dryRun) report(a, r, () => [`nat ${r.cidr} -> ${r.chain}${r.outIf ? ` out ${r.outIf}` : ''}${r.changed ? '' : ' (already there)'}`]);
  return 0;
}
