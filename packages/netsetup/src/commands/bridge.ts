import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { ensureBridge, removeBridge } from '../bridge.js';

export async function bridgeCommand(a: CommonArgs & { name: string; cidr?: string }): Promise<number> {
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const opts = { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) };
  if (a.name === 'rm' || a.name === 'del') {
    if (!a.cidr) throw new UsageError('bridge rm: a bridge name is required', 'netsetup bridge rm NAME');
    const r = await removeBridge(a.cidr, opts);
    if (dry) dry.done({ ...r });
    else report(a, r, () => [r.removed ? `removed bridge ${r.name}` : `bridge ${r.name} was already gone`]);
    return 0;
  }
  if (!a.cidr) throw new UsageError(`bridge ${a.name}: an address is required`, `netsetup bridge ${a.name} 10.10.15.1/24`);
  const r = await ensureBridge(a.name, a.cidr, opts);
  if (dry) dry.done({ ...r });
  else report(a, r, () => [`bridge ${r.name} ${r.cidr}${r.changed ? '' : ' (already there)'}`]);
  return 0;
}
