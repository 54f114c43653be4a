/**
 * ns-clone's entry. The common case (the default command with ordinary
 * flags) is parsed by the small table-driven parser in options.ts and runs
 * without yargs; help, subcommands and anything unusual are handed to the
 * yargs CLI (wiring.ts, a bundle of its own: dist/wiring.cjs), built from
 * the same option table. This file is what the startup snapshot holds, so
 * it stays small, and its pure code runs once while the snapshot is built
 * so V8 keeps it compiled.
 */
import { binEntry } from '@boxkit/common/entry';
import { reportFailure } from '@boxkit/common/errors';
import { decodeStatus, encodeProgram, exitNow, preresolveTrampoline, shellStatus } from '@boxkit/native';
import { fastParse, normalizeArgv } from './options.js';
import { runCommand } from './commands/run.js';
import { requestFromFlags } from './args.js';
import { planContainer } from './plan.js';
import { checkSpec } from './check.js';
import { nsPaths } from './container.js';
import { err } from '@boxkit/common/stdio';

const SUBCOMMANDS = new Set(['enter', 'release']);

async function fast(args: Record<string, unknown>): Promise<void> {
  let code: number;
  try {
    code = await runCommand(args);
  } catch (e) {
    code = reportFailure('ns-clone', e, err, true);
  }
  // output went out synchronously (stdio.ts): nothing to drain, no teardown needed
  exitNow(code);
}

function route(argv: string[]): (() => Promise<void>) | string[] {
  const sub = SUBCOMMANDS.has(argv[0] ?? '');
  const normalized = sub ? argv : normalizeArgv(argv);
  const parsed = sub ? undefined : fastParse(normalized);
  return parsed ? () => fast(parsed) : normalized;
}

/**
 * Run the side-effect-free part of a typical invocation, so the snapshot
 * keeps its code compiled: each function left cold is parsed and compiled
 * on every start (measured with --log-function-events: ~1.5 ms in all).
 */
function warm(): void {
  const argv = normalizeArgv(['--uts', '--ipc', '--pid', '--mount', '--net', '--hostname', 'h', '--', 'true']);
  const req = requestFromFlags(fastParse(argv)!);
  checkSpec(req.spec, req.defaultShell);
  encodeProgram(planContainer(req.spec).steps);
  nsPaths(1, req.spec.namespaces);
  shellStatus(decodeStatus(0));
  preresolveTrampoline();
}

binEntry(__filename, route, warm);
