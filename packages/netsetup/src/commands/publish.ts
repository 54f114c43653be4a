import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { parsePublish, publish, unpublish } from '../publish.js';

export async function publishCommand(a: CommonArgs & { spec: string; rm?: string; hostIp?: string }): Promise<number> {
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const opts = { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) };
  const remove = a.spec === 'rm' || a.spec === 'del';
  if (remove && !a.rm) throw new UsageError('publish rm: a mapping is required', 'netsetup publish rm 8080:10.10.15.2:80');
  if (!remove && a.rm !== undefined) throw new UsageError(`unexpected argument '${a.rm}'`);
  const p = parsePublish(remove ? a.rm! : a.spec, a.hostIp);
  const r = remove ? await unpublish(p, opts) : await publish(p, opts);
  if (dry) dry.done({ ...r });
  else report(a, r, () => [`${remove ? (r.changed ? 'unpublished' : 'already gone:') : 'published'} ${r.spec}${!remove && !r.changed ? ' (already there)' : ''}`]);
  return 0;
}
