import { readFileSync } from 'node:fs';
import type { CommonArgs } from '@boxkit/common/cli';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { parseRange, type Service } from '../model.js';
import { parseDocument, toServicesCached } from '../spec.js';
import type { StoredState } from '../store.js';
import { sync } from '../sync.js';
import { nodeportRangeOf, type SyncArgs } from './args.js';
import { reportSync, syncOptions } from './report.js';

function readInput(file: string): string {
  try {
    return readFileSync(file === '-' ? 0 : file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`cannot read ${file === '-' ? 'stdin' : file}: ${code ?? (e as Error).message}`);
  }
}

export async function apply(a: SyncArgs & CommonArgs & { file: string }): Promise<number> {
  // yargs-parser reads a lone '-' as an empty flag name and hands the positional over as ''
  if (a.file === '') a.file = '-';
  const source = a.file === '-' ? 'stdin' : a.file;
  const range = parseRange(nodeportRangeOf(a));
  // read and checked inside the sync, while iptables-save and iptables-restore start
  // (bad input still fails before anything is committed)
  const wanted = async (_stored: readonly Service[], state?: StoredState) => {
    // entries unchanged since the last apply (same text, same node-port range) keep their checked service
    const sameRange = state?.raw && state.nodePortRange?.min === range.min && state.nodePortRange.max === range.max;
    const known = sameRange ? new Map(state.raw!.map((r, i) => [r, state.services[i]!])) : undefined;
    try {
      return toServicesCached(await parseDocument(readInput(a.file), source), range, known);
    } catch (e) {
      if (e instanceof BoxkitError && !e.message.startsWith(source)) throw new UsageError(`${source}: ${e.message}`, e.hint);
      throw e;
    }
  };
  return reportSync(a, await sync(wanted, syncOptions(a)), `apply ${source}`);
}
