import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report, table } from '@boxkit/common/output';
import { addNetns, listNetns, removeNetns } from '../netns.js';

export async function netnsCommand(a: CommonArgs & { action: string; name?: string }): Promise<number> {
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const opts = { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) };
  if (a.action === 'ls' || a.action === 'list') {
    const l = listNetns();
    report(a, l, () => (l.length ? table([['NAME'], ...l.map((n) => [n.name])]) : []));
    return 0;
  }
  if (!a.name) throw new UsageError(`netns ${a.action}: a name is required`);
  if (a.action === 'add') {
    const r = await addNetns(a.name, opts);
    if (dry) dry.done({ ...r });
    else report(a, r, () => [r.created ? `created netns ${r.name}` : `netns ${r.name} exists`]);
  } else {
    const r = await removeNetns(a.name, opts);
    if (dry) dry.done({ ...r });
    // its attachments go with it (down --netns NAME): said, one line each, as `down` says them
    else report(a, r, () => [...r.detached.map((d) => `removed attachment ${d.hostIfname}${d.ip ? ` ${d.ip}` : ''}${d.bridge ? ` (bridge ${d.bridge})` : ''}`),
      r.removed ? `removed netns ${r.name}` : `netns ${r.name} was already gone`]);
  }
  return 0;
}
