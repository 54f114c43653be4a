/**
 * ns-clone's entry. The common case (the default command with ordinary
 * flags) is parsed by the small table-driven parser in options.ts and runs
 * without loading yargs; help, subcommands and anything unusual go through
 * the yargs wiring in wiring.ts, built from the same table.
 */
import { startupSnapshot } from 'node:v8';
import { describeError, EXIT } from '@boxkit/common/errors';
import { fastParse, normalizeArgv } from './options.js';

const SUBCOMMANDS = new Set(['enter', 'release']);

async function fast(args: Record<string, unknown>): Promise<never> {
  let code: number;
  try {
    const { runCommand } = await import('./commands/run.js');
    code = await runCommand(args);
  } catch (e) {
    const d = describeError(e);
    // ns-clone runs a command: its own failures are 125 (docker/env convention)
    code = d.exitCode === EXIT.SYSTEM || d.exitCode === EXIT.USAGE ? EXIT.CANNOT_START : d.exitCode;
    process.stderr.write(`ns-clone: ${d.message}\n${d.hint ? `hint: ${d.hint}\n` : ''}`);
    if (process.env.BOXKIT_DEBUG === '1' && e instanceof Error) process.stderr.write(`${e.stack}\n`);
  }
  process.exitCode = code;
  // let stdout drain (a pipe) before leaving
  process.stdout.write('', () => process.exit(code));
  return new Promise(() => {}) as Promise<never>;
}

function entry(argv: string[]): void {
  const sub = SUBCOMMANDS.has(argv[0] ?? '');
  const normalized = sub ? argv : normalizeArgv(argv);
  const parsed = sub ? undefined : fastParse(normalized);
  if (parsed) void fast(parsed);
  else void import('./wiring.js').then((w) => w.yargsMain(normalized));
}

// built into a V8 startup snapshot (scripts/build-snapshot.mjs), the entry runs when the
// blob is deserialized, where `node --snapshot-blob B -- ARGS` leaves argv = [node, ...ARGS]
if (startupSnapshot?.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(() => entry(process.argv.slice(1)));
else entry(process.argv.slice(2));
