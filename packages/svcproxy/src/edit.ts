/**
 * add and rm as edits of the stored services document: the entry of one
 * service is replaced, appended or cut out, so the partial sync that
 * follows sees a change of one entry (delta.ts) whatever the number of
 * services. An entry is replaced where it stands (its bucket keeps its
 * rule order); a new one goes last.
 */
import { checkServices, type Service } from './model.js';
import { entryJson, storedList, type StoredState } from './store.js';
import { entryNamed } from './delta.js';
import type { DocWanted } from './sync.js';

const EMPTY = Buffer.from('{"services":[]}\n');

/** The document without the byte ranges `cut` ([from, to), ascending, apart), with `insert` at `at`. */
function splice(doc: Buffer, cut: [number, number][], insert?: { at: number; text: string }): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  for (const [from, to] of cut) {
    if (insert && insert.at >= at && insert.at <= from) {
      parts.push(doc.subarray(at, insert.at), Buffer.from(insert.text, 'latin1'));
      at = insert.at;
      insert = undefined;
    }
    parts.push(doc.subarray(at, from));
    at = to;
  }
  if (insert) parts.push(doc.subarray(at, insert.at), Buffer.from(insert.text, 'latin1')), (at = insert.at);
  parts.push(doc.subarray(at));
  return Buffer.concat(parts);
}

/** The stored document with this service in place of its namesake, or appended. */
export function docWith(s: StoredState | undefined, svc: Service): Buffer {
  const doc = s?.doc ?? EMPTY;
  const text = entryJson(svc);
  if (!s) return splice(doc, [], { at: '{"services":['.length, text });
  const k = entryNamed(s, svc.name);
  if (k >= 0) return splice(doc, [[s.starts[k]!, s.ends[k]!]], { at: s.starts[k]!, text });
  const n = s.starts.length;
  return n ? splice(doc, [], { at: s.ends[n - 1]!, text: `,${text}` }) : splice(doc, [], { at: s.open, text });
}

/** The stored document without the entries of these names (names not stored are ignored). */
export function docWithout(s: StoredState | undefined, names: readonly string[]): Buffer {
  if (!s) return EMPTY;
  const gone = new Set(names.map((x) => entryNamed(s, x)).filter((k) => k >= 0));
  if (!gone.size) return s.doc;
  const n = s.starts.length;
  const cut: [number, number][] = [];
  // a leading run of removed entries goes with the separators up to the first kept entry; any other with the separator before it
  let f = 0;
  while (f < n && gone.has(f)) f++;
  if (f > 0) cut.push([s.starts[0]!, f < n ? s.starts[f]! : s.ends[n - 1]!]);
  for (let k = f + 1; k < n; k++) if (gone.has(k)) cut.push([s.ends[k - 1]!, s.ends[k]!]);
  return splice(s.doc, cut);
}

/** add: the service in place of its namesake (or appended). */
export function addWanted(svc: Service): DocWanted {
  return {
    kind: 'doc',
    keepsStored: true,
    doc: (s) => docWith(s, svc),
    services: async (_doc, s) => {
      const stored = s ? storedList(s) : [];
      const i = stored.findIndex((x) => x.name === svc.name);
      if (i >= 0) stored[i] = svc;
      else stored.push(svc);
      // the partial path checked the new entry against the stored ones (delta.ts); here nothing had: a VIP:port
      // or NodePort another service holds went in twice. Only the new entry: a clash between two stored ones (an
      // older svcproxy let add make it) is what the kernel holds, not what this add asks
      checkServices([svc]);
      for (const o of stored) if (o !== svc) checkServices([{ ...o, endpoints: [] }, svc]);
      return { services: stored, json: true };
    },
  };
}

/** rm: the stored services without these. */
export function rmWanted(names: readonly string[]): DocWanted {
  return {
    kind: 'doc',
    keepsStored: true,
    onlyRemoves: true,
    doc: (s) => docWithout(s, names),
    services: async (_doc, s) => ({ services: (s ? storedList(s) : []).filter((x) => !names.includes(x.name)), json: true }),
  };
}
