/** `ns-clone release PID|FIFO|-`: let a child started with --wait-for-setup go on (or abort it). */
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { dryRunOutput } from '@boxkit/common/output';
import { err, out, trace } from '@boxkit/common/stdio';
import { expandStdinArgs } from '@boxkit/common/stdin';
import { findSetupFifo, releaseSetup, releaseShell, sweepRecords } from '../setup-fifo.js';

export async function releaseCommand(f: { target: string | number; abort?: boolean; json?: boolean; dryRun?: boolean; verbose?: boolean }): Promise<number> {
  const target = stdinTarget(f.target);
  const aborted = !!f.abort;
  if (f.dryRun) {
    const found = findSetupFifo(target, true, aborted);
    const d = dryRunOutput(f);
    if (found.gone || found.ended === undefined) for (const l of releaseShell(found, aborted)) d.print(l);
    // its child gone: what a release would take back, then the error it would end with (an abort: the line
    // saying there is nothing to abort, and success)
    d.done({ released: target, ...(found.fifo ? { fifo: found.fifo } : {}), aborted, ...(found.gone || found.ended !== undefined ? { gone: true } : {}) });
    if (found.ended !== undefined) {
      err(`ns-clone: ${found.ended}`);
      return 0;
    }
    if (found.gone) throw new BoxkitError('ESRCH', found.gone.message);
    return 0;
  }
  try {
    let ended: string | undefined;
    const fifo = await releaseSetup(target, { abort: aborted, ...(f.verbose ? { trace } : {}), onEnded: (m) => (ended = m) });
    // an abort of a start that has ended (aborted already, killed, or its command ran and ended): done, as
    // `netsetup down` of what is gone is; one line says so
    if (ended !== undefined) err(`ns-clone: ${ended}`);
    if (f.json) out(JSON.stringify({ released: target, ...(fifo ? { fifo } : {}), aborted, ...(ended !== undefined ? { gone: true } : {}) }));
    return 0;
  } finally {
    // what other starts left (a held child killed, a start killed after its record or its fifo) goes at
    // any release too, as at the next start that makes a fifo: after this one, whose own record it names
    sweepQuietly();
  }
}

function sweepQuietly(): void {
  try {
    sweepRecords();
  } catch {
    // (a state dir this user cannot write: the release said what it did; the next sweep tries again)
  }
}

/**
 * TARGET, or with `-` the one pid (or fifo) on stdin (`echo $pid | ns-clone
 * release -`). yargs hands a lone `-` positional over as '': an empty
 * argument given as such ("") is refused, not read as `-`.
 */
/** ns-clone's own arguments: those before `--` (a `-` after it is the command's, as in `-- cat -`). */
function ownArgs(): string[] {
  const end = process.argv.indexOf('--');
  return end < 0 ? process.argv : process.argv.slice(0, end);
}

export function stdinTarget(t: string | number): string {
  const v = String(t);
  if (v === '' && !ownArgs().includes('-')) throw new UsageError('TARGET is empty', 'give a pid, a fifo path, or - to read it from stdin');
  if (v !== '-' && v !== '') return v;
  const words = expandStdinArgs(['-']);
  if (words.length !== 1) throw new UsageError(`stdin: expected one pid, got ${words.length ? words.length : 'none'}`, 'one TARGET per call');
  return words[0]!;
}
