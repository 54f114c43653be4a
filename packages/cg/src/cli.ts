/**
 * cg's entry. `cg exec` with ordinary flags (what a script runs per
 * command, as with cgexec) is parsed by the small table-driven parser in
 * fast.ts and run here; help, the other commands and anything unusual go
 * to the yargs CLI (wiring.ts, a bundle of its own: dist/wiring.cjs). This
 * file is what dist/cli.blob holds, so it stays small.
 */
import { startupSnapshot } from 'node:v8';
import { createRequire } from 'node:module';
import { preresolveKoffi } from '@boxkit/native';
import { fastParse, runFast } from './fast.js';
import { parseLimits } from './limits.js';

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
  // the pure part of a start, so the blob holds it run once (nothing of the machine is read)
  parseLimits(fastParse(['exec', 'g', '--cpus', '0.5', '--memory', '64M', '--pids', '20', '--', 'true']) as never);
  preresolveKoffi(); // exec loads koffi for execve: find its binary now, not on every start
  startupSnapshot.setDeserializeMainFunction(() => entry(process.argv.slice(1)));
} else entry(process.argv.slice(2));
