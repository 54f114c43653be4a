import { readFileSync } from 'node:fs';
import type { CommonArgs } from '@boxkit/common/cli';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { parseRange } from '../model.js';
import { parseDocumentAs, toServices } from '../spec.js';
import { indexDoc } from '../jsondoc.js';
import { sync, type DocWanted } from '../sync.js';
import { nodeportRangeOf, type SyncArgs } from './args.js';
import { reportSync, syncOptions } from './report.js';

function readInput(file: string): Buffer {
  try {
    return readFileSync(file === '-' ? 0 : file);
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
  // (bad input still fails before anything is committed); a partial sync reads only the entries that changed
  const wanted: DocWanted = {
    kind: 'doc',
    keepsStored: false,
    doc: () => readInput(a.file),
    services: async (doc) => {
      try {
        const parsed = await parseDocumentAs(doc.toString('utf8'), source);
        const services = toServices(parsed.doc, range);
        const index = parsed.json ? indexDoc(doc) : undefined;
        return { services, ...(index ? { index } : {}) };
      } catch (e) {
        if (e instanceof BoxkitError && !e.message.startsWith(source)) throw new UsageError(`${source}: ${e.message}`, e.hint);
        throw e;
      }
    },
  };
  return reportSync(a, await sync(wanted, syncOptions(a)), `apply ${source}`);
}
