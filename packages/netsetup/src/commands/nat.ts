import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { ensureNat, removeNat } from '../nat.js';

export async function natCommand(a: CommonArgs & { cidr: string; rm?: string; outIf?: string }): Promise<number> {
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const opts = { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) };
  if (a.cidr === 'rm' || a.cidr === 'del') {
    if (!a.rm) throw new UsageError('nat rm: a network is required', 'netsetup nat rm 10.10.15.0/24');
    const r = await removeNat(a.rm, opts);
    if (dry) dry.done({ ...r });
    else report(a, r, () => [r.changed ? `removed nat for ${r.cidr}` : `nat for ${r.cidr} was already gone`]);
    return 0;
  }
  if (a.rm !== undefined) throw new UsageError(`unexpected argument '${a.rm}'`);
  const r = await ensureNat(a.cidr, { ...opts, ...(a.outIf ? { outIf: a.outIf } : {}) });
  if (dry) dry.done({ ...r });
  else report(a, r, () => [`nat ${r.cidr} -> ${r.chain}${r.outIf ? ` out ${r.outIf}` : ''}${r.changed ? '' : ' (already there)'}`]);
  return 0;
}
