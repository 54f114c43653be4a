import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { addRoute, removeRoute } from '../route.js';

export async function routeCommand(a: CommonArgs & { action: string; cidr: string; via: string; gw: string; dev?: string }): Promise<number> {
  if (a.via !== 'via') throw new UsageError(`expected 'via', got '${a.via}'`, 'netsetup route add 10.10.14.0/24 via 198.18.0.2');
  const spec = { cidr: a.cidr, via: a.gw, ...(a.dev ? { dev: a.dev } : {}) };
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const opts = { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) };
  if (a.action === 'add') {
    const r = await addRoute(spec, opts);
    if (dry) dry.done({ ...r });
    else report(a, r, () => [`route ${r.cidr} via ${r.via}${r.dev ? ` dev ${r.dev}` : ''}${r.changed ? '' : ' (already there)'}`]);
  } else {
    const r = await removeRoute(spec, opts);
    if (dry) dry.done({ ...r });
    else report(a, r, () => [`${r.removed ? 'removed' : 'already gone:'} route ${r.cidr} via ${r.via}`]);
  }
  return 0;
}
