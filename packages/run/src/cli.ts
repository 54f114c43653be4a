/**
 * run's entry. The common case, `run [options] -- CMD`, is parsed by the
 * small table-driven parser in options.ts and starts without building the
 * yargs instance; help, subcommands and anything unusual go through the
 * yargs wiring in wiring.ts, built from the same table.
 */
import { startupSnapshot } from 'node:v8';
import { describeError, EXIT } from '@boxkit/common/errors';
import { fastParse } from './options.js';
// Imported here, not only lazily: built into the startup snapshot, these
// modules (and the libraries they use: cg, netsetup, unionfs, common with
// yargs) are initialized once at build time instead of on every start
// (measured: ~100 ms of CPU, most of it yargs' string-width tables).
import { runContainer } from './commands/run.js';
import './container/create.js';
import './container/lifecycle.js';
import './container/teardown.js';

const SUBCOMMANDS = new Set(['rootfs', 'ps', 'ls', 'exec', 'logs', 'stop', 'rm', 'inspect', 'gc', 'start', '--help', '-h', 'help', '--version']);

async function fast(args: NonNullable<ReturnType<typeof fastParse>>): Promise<void> {
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
  // let stdout drain (a pipe) before leaving
  process.stdout.write('', () => process.exit(code));
}

function entry(argv: string[]): void {
  const parsed = SUBCOMMANDS.has(argv[0] ?? '') ? undefined : fastParse(argv);
  if (parsed && parsed['--']?.length && !parsed['--'].some((w) => w === undefined)) void fast(parsed);
  else void import('./wiring.js').then((w) => w.yargsMain(argv));
}

// built into a V8 startup snapshot (scripts/build-snapshot.mjs), the entry runs when the
// blob is deserialized, where `node --snapshot-blob B -- ARGS` leaves argv = [node, ...ARGS]
if (startupSnapshot?.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(() => entry(process.argv.slice(1)));
else entry(process.argv.slice(2));
