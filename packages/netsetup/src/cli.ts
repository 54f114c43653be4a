/**
 * netsetup's entry. `veth` and `down` with ordinary flags (what a runtime
 * calls per container) are parsed by the small table-driven parser in
 * fast.ts and run here; help, the other commands and anything unusual go to
 * the yargs CLI (wiring.ts, a bundle of its own: dist/wiring.cjs). This file
 * is what the startup snapshot holds, so it stays small: a snapshot with
 * yargs in it took longer to deserialize on every start.
 */
import { startupSnapshot } from 'node:v8';
import { createRequire } from 'node:module';
import { preresolveKoffi } from '@boxkit/native';
import { fastParse, runFast } from './fast.js';
import { warm } from './warm.js';

function toYargs(argv: string[]): void {
  // the bundle next to this one (dist/wiring.cjs), never inlined: it carries yargs
  const w = createRequire(__filename)('./wiring.cjs') as { yargsMain(argv: string[]): Promise<never> };
  void w.yargsMain(argv);
}

function entry(argv: string[]): void {
  const fast = fastParse(argv);
  if (fast) void runFast(fast);
  else toYargs(argv);
}

// in a V8 startup snapshot (scripts/build-snapshot.mjs) the entry runs when the blob is
// deserialized, where `node --snapshot-blob B -- ARGS` leaves argv = [node, ...ARGS]
if (startupSnapshot?.isBuildingSnapshot()) {
  warm();
  preresolveKoffi(); // veth/down make netlink requests: find koffi's binary now, not on every start
  startupSnapshot.setDeserializeMainFunction(() => entry(process.argv.slice(1)));
} else entry(process.argv.slice(2));
