/**
 * svcproxy's entry. The commands' ordinary flags are parsed by the small
 * table below and run without yargs (about 25 ms of every start); help,
 * --version and anything the table is unsure about go to the yargs CLI
 * (wiring.ts, a bundle of its own: dist/wiring.cjs), which parses again and
 * reports usage errors. This file is what the startup snapshot holds, and
 * its pure code runs once while the snapshot is built so V8 keeps it
 * compiled.
 */
import { binEntry, fastOr } from '@boxkit/common/entry';
import { reportFailure, toStderr } from '@boxkit/common/errors';
import { preresolveTrampoline } from '@boxkit/native';
import { mark, printPhases } from '@boxkit/common/phases';
import { parseDocument, toServices } from './spec.js';
import { chainsOf, hooks, render } from './rules.js';
import { diff, diffChunks, restoreText } from './diff.js';
import { parseSave } from './saved.js';
import { scopeOf } from './sync.js';
import { Names } from './names.js';
import { fastParse, type Command } from './fastargs.js';
import { DEFAULT_NODEPORT_RANGE } from './model.js';
import { fromServices } from './store.js';
import { indexDoc } from './jsondoc.js';
import { applyDelta, deltaRender, docDelta, OnceNames } from './delta.js';
import { docWith, docWithout } from './edit.js';

async function fast(cmd: Command, args: Record<string, unknown>): Promise<void> {
  let code: number;
  mark('entry');
  try {
    code = await cmd.run(args);
  } catch (e) {
    code = reportFailure('svcproxy', e, toStderr);
  }
  mark('done');
  printPhases();
  // everything went out synchronously (common's stdio): no stdout stream to make and drain
  process.exit(code);
}


/** Run the pure part of a typical sync, so the snapshot keeps its code compiled. */
async function warm(): Promise<void> {
  fastParse(['apply', '--backend', 'nft', '--partial', 'f.json']);
  fastParse(['add', 'web', '--vip', '10.96.0.1:80', '--endpoint', '10.88.0.2:80', '--nodeport', '30001']);
  const doc = {
    services: Array.from({ length: 40 }, (_, i) => ({
      name: `ns/svc-${i}`, vip: `10.96.${i >> 4}.${i + 1}:80`, endpoints: [`10.88.0.${i + 1}:8080`, { ip: '10.88.1.1', port: 8080 }],
      ...(i % 4 ? {} : { nodePort: 30000 + i, affinity: 'clientip:60', protocol: 'udp' }),
    })),
  };
  const before = toServices(await parseDocument(JSON.stringify(doc), 'warm'));
  const after = before.map((s, i) => (i === 3 ? { ...s, endpoints: s.endpoints.slice(1) } : s));
  const names = new Names('BKSVC');
  const full = render(names, after);
  const text = restoreText(diff(full, render(names, [])));
  const saved = parseSave(text, names);
  diff(full, saved, saved.allChains);
  for (const zeroAbove of [undefined, 10]) {
    const chunks = diffChunks(chainsOf(names, before), hooks(names), saved, saved.allChains, { zeroAbove });
    while (!chunks.next().done);
  }
  const scope = scopeOf(before, after);
  diff(render(names, after, scope), render(names, before, scope));
  // a one-service update of a document (delta.ts), as apply --partial, add and rm make it
  const bytes = Buffer.from(JSON.stringify(doc));
  const state = fromServices('BKSVC', 'nft', DEFAULT_NODEPORT_RANGE, before, { bytes, ...indexDoc(bytes)! });
  for (const next of [docWith(state, after[3]!), docWithout(state, [before[5]!.name])]) {
    const d = docDelta(state, next, DEFAULT_NODEPORT_RANGE);
    const dr = d && deltaRender(state, d);
    if (!d || !dr) continue;
    const once = new OnceNames('BKSVC');
    diff(render(once, dr.after, dr.scopeAfter), render(once, dr.before, dr.scopeBefore));
    applyDelta(state, d, 'nft', dr.cidrs);
  }
}

binEntry(__filename, fastOr(fastParse, (p) => fast(p.cmd, p.args)), () => {
  // koffi and libboxkit.so (the legacy restore in this process, udp-flows' conntrack calls): found now, not on every start
  preresolveTrampoline();
  return warm();
});
