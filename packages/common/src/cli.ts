/**
 * The shared CLI wiring: every tool is `main({ name, version, commands })`.
 * It adds the common flags (--dry-run, --json, -v) from one place, turns
 * yargs validation failures into exit 2, prints errors as one line, and exits
 * with the code the command returned.
 */
import yargs, { type Argv, type CommandModule } from 'yargs';
import { startupSnapshot } from 'node:v8';
import { preresolveTrampoline } from '@boxkit/native';
import { EXIT, reportFailure, toStderr, UsageError } from './errors.js';
import { camel } from './entry.js';

export interface CommonArgs {
  dryRun: boolean;
  json: boolean;
  verbose: boolean;
  '--'?: (string | number)[];
}

/** Add the flags every boxkit command shares. */
export function withCommonFlags<T>(y: Argv<T>): Argv<T & CommonArgs> {
  return y
    .option('dry-run', { type: 'boolean', default: false, describe: 'print the equivalent shell commands and change nothing' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON document on stdout' })
    .option('verbose', { alias: 'v', type: 'boolean', default: false, describe: 'print each step as it runs (like set -x)' })
    .group(['dry-run', 'json', 'verbose', 'help', 'version'], 'Common options:') as unknown as Argv<T & CommonArgs>;
}

/** A command's result: an exit code (default 0). */
export type CommandResult = number | void;

export interface CommandSpec<A = Record<string, unknown>> {
  command: string | string[];
  describe: string;
  builder?: (y: Argv<CommonArgs>) => Argv<A>;
  examples: [string, string][];
  /** A command that runs a user's command: its own failures exit 125, as docker and env do. */
  runsCommand?: boolean;
  /** Loaded lazily so a tool pays only for the command it runs. */
  run: (argv: A & CommonArgs) => Promise<CommandResult> | CommandResult;
}

let result: number = EXIT.OK;
let runsCommand = false;

/** Turn a CommandSpec into a yargs command module. */
export function command<A>(spec: CommandSpec<A>): CommandModule<CommonArgs, A & CommonArgs> {
  return {
    command: spec.command,
    describe: spec.describe,
    builder: (y: Argv<CommonArgs>) => {
      runsCommand = spec.runsCommand ?? false;
      const b = (spec.builder ? spec.builder(y) : y) as Argv<A & CommonArgs>;
      for (const [cmd, what] of spec.examples) b.example(cmd, what);
      return b;
    },
    handler: async (argv) => {
      const code = await spec.run(argv as unknown as A & CommonArgs);
      result = typeof code === 'number' ? code : EXIT.OK;
    },
  } as CommandModule<CommonArgs, A & CommonArgs>;
}

export interface ToolSpec {
  name: string;
  version: string;
  /** One sentence shown at the top of --help. */
  description: string;
  /** Commands, or a function that configures a tool with a default command. */
  commands: CommandModule<CommonArgs, any>[];
}

/**
 * yargs' validation messages as one line: its choices message spans lines
 * ('Invalid values:\n  Argument: ...'), and an unknown command gets the
 * near one in the hint (yargs' own suggestion, 'Did you mean X?', replaced
 * the line that named the unknown word).
 */
function usageError(tool: ToolSpec, msg: string, argv: readonly string[]): UsageError {
  const help = `see '${tool.name} --help'`;
  // yargs lists every word as an unknown command ('creat, x'): the first one is, the rest are its arguments
  const unknown = /^Unknown commands?: ([^\s,]+)/.exec(msg)?.[1];
  if (unknown !== undefined && unknown === argv.find((a) => !a.startsWith('-'))) {
    msg = `Unknown command: ${unknown}`;
    const near = nearest(unknown, tool.commands.flatMap((c) => [c.command, c.aliases].flat()).map((c) => String(c ?? '').split(' ')[0]!).filter((c) => c && c !== '$0'));
    return new UsageError(msg, near ? `did you mean '${tool.name} ${near}'? ${help}` : help);
  }
  // strip-dashed hands yargs the camelCase key: name the flag as the user typed it (--nodeport-range, not nodeportRange)
  const flags = /^Unknown arguments?: (.*)$/.exec(msg);
  if (flags) {
    // (--no-X reaches yargs as X)
    const keysOf = (a: string) => {
      const f = a.replace(/^-+/, '').split('=')[0]!;
      return f.startsWith('no-') ? [camel(f), camel(f.slice(3))] : [camel(f)];
    };
    const typed = flags[1]!.split(', ').map((k) => argv.find((a) => a.startsWith('-') && keysOf(a).includes(k))?.split('=')[0] ?? k);
    return new UsageError(`unknown option${typed.length > 1 ? 's' : ''}: ${typed.join(', ')}`, help);
  }
  const lines = msg.split('\n').map((l) => l.trim()).filter(Boolean);
  const choices = lines.slice(1).map((l) => /^Argument: (.*), Given: (.*), Choices: (.*)$/.exec(l));
  if (lines[0] === 'Invalid values:' && choices.length && choices.every(Boolean)) {
    return new UsageError(choices.map((m) => `invalid value for ${m![1]}: ${m![2]} (choose ${m![3]})`).join('; '), help);
  }
  return new UsageError(lines.join(' '), help);
}

/** The command within 3 edits of `word` (as yargs' recommendCommands), the closest first. */
function nearest(word: string, names: string[]): string | undefined {
  let best: string | undefined;
  let bestD = 4;
  for (const n of names) {
    const d = editDistance(word, n);
    if (d < bestD) [best, bestD] = [n, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}

function flush(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => (stream.writableLength ? stream.write('', () => resolve()) : resolve()));
}

/** Parse, run, report, exit. Never returns. */
export async function main(tool: ToolSpec, argv?: string[]): Promise<never> {
  if (startupSnapshot?.isBuildingSnapshot()) {
    // building the bin's startup snapshot (scripts/build-snapshot.mjs): run when
    // deserialized, where `node --snapshot-blob B -- ARGS` leaves argv = [node, ...ARGS]
    startupSnapshot.setDeserializeMainFunction(() => void main(tool, process.argv.slice(1)));
    preresolveTrampoline();
    return undefined as never;
  }
  // a reader that goes away (`| head -1`) ends the output, not the tool with a stack trace
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  argv ??= process.argv.slice(2);
  let code: number;
  try {
    const y = withCommonFlags(yargs(argv) as Argv<object>)
      .scriptName(tool.name)
      .usage(`${tool.description}\n\nUsage: ${tool.name} <command> [options]`)
      .parserConfiguration({ 'populate--': true, 'strip-dashed': true })
      .strictOptions()
      .strictCommands()
      .demandCommand(1, "a command is required")
      .help('help')
      .alias('h', 'help')
      .version(tool.version)
      .wrap(Math.min(110, process.stdout.columns || 100))
      .exitProcess(false)
      .fail((msg, err) => {
        // yargs' own parse errors (a flag without its value: requiresArg) are usage errors too
        if (err && err.name !== 'YError') throw err;
        throw usageError(tool, msg ?? err?.message ?? 'bad usage', argv!);
      });
    for (const c of tool.commands) y.command(c);
    // yargs renders a command's whole help text each time the command runs, to
    // print it should the command fail; .fail() above never prints it, and the
    // rendering cost ~60 ms per start (measured on `unionfs mount --dry-run`)
    const internals = (y as unknown as { getInternalMethods?: () => { getUsageInstance(): { cacheHelpMessage(): void } } }).getInternalMethods?.();
    if (internals) internals.getUsageInstance().cacheHelpMessage = () => {};
    result = EXIT.OK;
    await y.parseAsync();
    code = result;
  } catch (e) {
    code = reportFailure(tool.name, e, toStderr, runsCommand);
  }
  await flush(process.stdout);
  await flush(process.stderr);
  process.exit(code);
}
