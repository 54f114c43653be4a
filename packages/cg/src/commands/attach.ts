/** cg attach GROUP PID... (`-` reads PIDs from stdin, like `echo $$ >> cgroup.procs`). */
import { BoxkitError, UsageError, validatePid } from '@boxkit/common';
import { existsSync, readSync } from 'node:fs';
import { checkPids, planAttach } from '../membership.js';
import { apply, groupFrom, reportGroup, type GroupArgs } from './common.js';

/**
 * All of stdin. A pipe handed over by a Node parent may be non-blocking, so
 * EAGAIN means "not yet", not end of input (only EOF ends it).
 */
function readStdinFully(): string {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(65536);
  for (;;) {
    let n: number;
    try {
      n = readSync(0, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EINTR') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5);
        continue;
      }
      if (code === 'EOF') break;
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  return Buffer.concat(chunks).toString('utf8');
}

function expandPids(args: readonly (string | number)[]): string[] {
  return args.flatMap((a) => (String(a) === '-' ? readStdinFully().split(/\s+/).filter(Boolean) : [String(a)]));
}

export async function runAttach(a: GroupArgs & { pids: (string | number)[] }): Promise<number> {
  // yargs drops a bare '-' from positionals (yargs 18), so look for it in the raw arguments
  const raw = process.argv.slice(2);
  const dashdash = raw.indexOf('--');
  const stdin = (dashdash < 0 ? raw : raw.slice(0, dashdash)).includes('-');
  const pids = expandPids([...(a.pids ?? []), ...(stdin ? ['-'] : [])]).map(validatePid);
  if (!pids.length) throw new UsageError('no PIDs given', "pass PIDs, or '-' to read them from stdin");
  checkPids(pids);
  const g = groupFrom(a);
  const missing = g.dirs.filter((d) => !existsSync(d.path));
  if (missing.length) throw new BoxkitError('ENOENT', `group ${g.name} does not exist: ${missing[0]!.path}`, { hint: `create it first: cg create ${g.name}` });
  await apply(a, planAttach(g, pids));
  reportGroup(a, g, `attached ${pids.join(' ')} to`, { pids });
  return 0;
}
