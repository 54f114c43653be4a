import { readFileSync } from 'node:fs';
import { BoxkitError, UsageError, type CommonArgs } from '@boxkit/common';
import { parseRange } from '../model.js';
import { parseDocument, toServices } from '../spec.js';
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
  let services;
  try {
    services = toServices(await parseDocument(readInput(a.file), source), parseRange(nodeportRangeOf(a)));
  } catch (e) {
    if (e instanceof BoxkitError && !e.message.startsWith(source)) throw new UsageError(`${source}: ${e.message}`, e.hint);
    throw e;
  }
  return reportSync(a, await sync(services, syncOptions(a)), `apply ${source}`);
}
