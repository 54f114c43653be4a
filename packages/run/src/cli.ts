/**
 * run's entry. The common case, `run [options] -- CMD`, is parsed by the
 * small table-driven parser in options.ts and starts without yargs; help,
 * subcommands and anything unusual go through the yargs wiring in
 * wiring.ts (a bundle of its own: dist/wiring.cjs), built from the same
 * table. This file is what the startup snapshot holds.
 */
import { startupSnapshot } from 'node:v8';
import { createRequire } from 'node:module';
import { describeError, EXIT } from '@boxkit/common/errors';
import { fastParse } from './options.js';
import { mark, printPhases } from './phases.js';
// Imported here, not only lazily: built into the startup snapshot, these
// modules (and the libraries they use: cg, netsetup, unionfs, common) are
// initialized once at build time instead of on every start.
import { runContainer } from './commands/run.js';
import { exitNow, preresolveTrampoline } from '@boxkit/native';
import './container/create.js';
import './container/lifecycle.js';
import './container/teardown.js';

const SUBCOMMANDS = new Set(['rootfs', 'ps', 'ls', 'exec', 'logs', 'stop', 'rm', 'inspect', 'gc', 'start', '--help', '-h', 'help', '--version']);

async function fast(args: NonNullable<ReturnType<typeof fastParse>>): Promise<void> {
  mark('main');
  let code: number;
  try {
    code = await runContainer(args);
  } catch (e) {
    const d = describeError(e);
    // run runs a command: its own failures are 125 (docker/env convention)
    code = d.exitCode === EXIT.SYSTEM || d.exitCode === EXIT.USAGE ? EXIT.CANNOT_START : d.exitCode;
    process.stderr.write(`run: ${d.message}\n${d.hint ? `hint: ${d.hint}\n` : ''}`);
    if (process.env.BOXKIT_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  }
  process.exitCode = code;
  // once stdout has drained (a pipe), end without Node's teardown (~1 ms)
  process.stdout.write('', () => {
    mark('end');
    printPhases();
    exitNow(code);
  });
}

function entry(argv: string[]): void {
  const parsed = SUBCOMMANDS.has(argv[0] ?? '') ? undefined : fastParse(argv);
  if (parsed && parsed['--']?.length && !parsed['--'].some((w) => w === undefined)) void fast(parsed);
  // the bundle next to this one (dist/wiring.cjs), never inlined: it carries yargs
  else (createRequire(__filename)('./wiring.cjs') as typeof import('./wiring.js')).yargsMain(argv);
}

// built into a V8 startup snapshot (scripts/build-snapshot.mjs), the entry runs when the
// blob is deserialized, where `node --snapshot-blob B -- ARGS` leaves argv = [node, ...ARGS]
if (startupSnapshot?.isBuildingSnapshot()) {
  // find koffi and the trampoline library now: else the first native call
  // resolves modules and probes the platform on every start (~6-8 ms)
  preresolveTrampoline();
  startupSnapshot.setDeserializeMainFunction(() => entry(process.argv.slice(1)));
} else entry(process.argv.slice(2));
