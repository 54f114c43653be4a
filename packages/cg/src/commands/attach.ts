/** cg attach GROUP PID... (`-` reads PIDs from stdin, like `echo $$ >> cgroup.procs`). */
import { BoxkitError, UsageError, validatePid } from '@boxkit/common';
import { existsSync } from 'node:fs';
import { expandStdinArgs } from '@boxkit/common/stdin';
import { checkPids, planAttach } from '../membership.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';
import { cgLine } from '../group.js';

export async function runAttach(a: GroupArgs & { pids: (string | number)[] }): Promise<number> {
  // yargs drops a bare '-' from positionals (yargs 18), so look for it in the raw arguments
  const raw = process.argv.slice(2);
  const dashdash = raw.indexOf('--');
  const stdin = (dashdash < 0 ? raw : raw.slice(0, dashdash)).includes('-');
  // each once: a pid given twice (or in a list from stdin again) is one move, reported once
  const pids = [...new Set(expandStdinArgs([...(a.pids ?? []), ...(stdin ? ['-'] : [])]).map(validatePid))];
  if (!pids.length) throw new UsageError('no PIDs given', "pass PIDs, or '-' to read them from stdin");
  checkPids(pids);
  const g = groupFrom(a);
  const missing = g.dirs.filter((d) => !existsSync(d.path));
  if (missing.length) {
    throw new BoxkitError('ENOENT', `group ${g.name} does not exist: ${missing[0]!.path}`, { hint: `create it first: ${cgLine(['create', g.name], a.parent)}` });
  }
  await apply(a, planAttach(g, pids));
  reportGroup(a, g, `attached ${pids.join(' ')} to`, { pids });
  return 0;
}
