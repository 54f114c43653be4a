import type { CommonArgs } from '@boxkit/common/cli';
import { UsageError } from '@boxkit/common/errors';
import { dryRunOutput, report } from '@boxkit/common/output';
import { validatePid } from '@boxkit/common/validate';
import { detachMany, type DetachTarget } from '../detach.js';
import { jsonLine, stdinLines } from '../spec.js';

interface DownArgs extends CommonArgs {
  batch?: string;
  netns?: string[];
  pid?: number[];
  hostIfname?: string[];
}

function stdinTargets(): DetachTarget[] {
  return stdinLines().map(([l, n]) => {
    if (!l.startsWith('{')) return /^\d+$/.test(l) ? { pid: validatePid(l) } : { netns: l };
    // as veth - reads its lines: host-ifname or hostIfname, typed, and no field it would not look at (a typo removed the rest alone)
    return jsonLine(l, n, { netns: 'string', pid: 'number', hostIfname: 'string' }, { 'host-ifname': 'hostIfname' }, '{"netns":"ns1"}', 'one of netns, pid, hostIfname (or host-ifname) per line') as DetachTarget;
  });
}

/** yargs turns a lone `-` positional into '': treat both as "read stdin". */
function stdinArg(v: string | undefined): string | undefined {
  return v === '' && process.argv.includes('-') ? '-' : v;
}

export async function downCommand(a: DownArgs): Promise<number> {
  a.batch = stdinArg(a.batch);
  if (a.batch !== undefined && a.batch !== '-') throw new UsageError(`unexpected argument '${a.batch}'`, 'use - to read targets from stdin');
  const targets: DetachTarget[] = [
    ...(a.netns ?? []).map((netns) => ({ netns: String(netns) })),
    ...(a.pid ?? []).map((pid) => ({ pid: validatePid(pid) })),
    ...(a.hostIfname ?? []).map((hostIfname) => ({ hostIfname: String(hostIfname) })),
    ...(a.batch === '-' ? stdinTargets() : []),
  ];
  if (!targets.length) throw new UsageError('down: nothing to remove', 'give --netns NAME, --pid PID, --host-ifname NAME or - (stdin)');
  // a dry run prints its commands; with --json they go out with the result as one document
  const dry = a.dryRun ? dryRunOutput(a) : undefined;
  const r = await detachMany(targets, { dryRun: a.dryRun, verbose: a.verbose, ...(dry ? { print: dry.print } : {}) });
  if (dry) dry.done({ detached: r });
  else report(a, r, () => (r.length ? r.map((d) => `${d.removed ? 'removed' : 'forgot (already gone)'} ${d.hostIfname}${d.ip ? ` ${d.ip}` : ''}${d.netns ? ` (${d.netns})` : d.pid ? ` (pid ${d.pid})` : ''}`) : ['nothing to remove']));
  return 0;
}
