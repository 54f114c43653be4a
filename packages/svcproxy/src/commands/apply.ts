import { readFileSync } from 'node:fs';
import type { CommonArgs } from '@boxkit/common/cli';
import { BoxkitError, UsageError } from '@boxkit/common/errors';
import { checkServices, parseRange, type Service } from '../model.js';
import { listOf, parseDocumentAs, toService, toServices, type ParsedDocument } from '../spec.js';
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
  const named = (e: unknown) => (e instanceof BoxkitError && !e.message.startsWith(source) ? new UsageError(`${source}: ${e.message}`, e.hint) : e);
  const wanted: DocWanted = {
    kind: 'doc',
    keepsStored: false,
    doc: () => readInput(a.file),
    services: async (doc) => {
      try {
        const parsed = await parseDocumentAs(doc.toString('utf8'), source);
        return { services: toServices(parsed.doc, range, parsed.keys), json: parsed.json };
      } catch (e) {
        throw named(e);
      }
    },
    // the same checks in the same order as toServices: each entry, then the whole set
    stream: async (doc) => {
      let parsed: ParsedDocument;
      let list: unknown[];
      try {
        parsed = await parseDocumentAs(doc.toString('utf8'), source);
      } catch (e) {
        throw named(e);
      }
      try {
        list = listOf(parsed.doc, parsed.keys);
      } catch (e) {
        throw named(parsed.keys ? parsed.keys.instead(e) : e);
      }
      function* entries(): Generator<Service> {
        const all: Service[] = [];
        try {
          for (const o of list) {
            const svc = toService(o, range, parsed.keys);
            all.push(svc);
            yield svc;
          }
          parsed.keys?.check();
          checkServices(all);
        } catch (e) {
          throw named(parsed.keys ? parsed.keys.instead(e) : e);
        }
      }
      // each entry with endpoints that passes its checks makes its service chain and one chain per endpoint
      // (names and endpoints are unique): a lower bound that lets a big first apply say -Z at once (sync.ts)
      let natChainsAtLeast = 0;
      for (const o of list) {
        const eps = (o as { endpoints?: unknown } | null)?.endpoints;
        if (Array.isArray(eps) && eps.length) natChainsAtLeast += 1 + eps.length;
      }
      return { entries: entries(), json: parsed.json, natChainsAtLeast };
    },
  };
  return reportSync(a, await sync(wanted, syncOptions(a)), `apply ${source}`);
}
