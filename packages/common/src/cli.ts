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
import { camel, looksLikeFlag } from './entry.js';
import { cannotWrite } from './stdio.js';

export interface CommonArgs {
  dryRun: boolean;
  json: boolean;
  verbose: boolean;
  '--'?: (string | number)[];
}

/** Add the flags every boxkit command shares (`dryRun`: what --dry-run prints, where it is not shell commands). */
export function withCommonFlags<T>(y: Argv<T>, dryRun = 'print the equivalent shell commands and change nothing'): Argv<T & CommonArgs> {
  return y
    .option('dry-run', { type: 'boolean', default: false, describe: dryRun })
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
/** The running command's yargs (its options), and the words as typed: to name a flag the way the user wrote it. */
let current: { y: Argv<any>; positionals: Set<string> } | undefined;
let typedArgv: readonly string[] = [];
let toolName = '';

/** The positional names in `cmd <a> [b..]`: they are never flags that need a value. */
const positionalsOf = (command: string | string[]): Set<string> =>
  new Set([command].flat().flatMap((c) => [...c.matchAll(/[<[]([^\]>.]+)(?:\.\.)?[\]>]/g)].map((m) => m[1]!)));

/**
 * Every option that takes a value must be given one: a bare `--prefix`
 * (last word, or before another flag) quietly took the default before.
 * (yargs' requiresArg; an option that sets nargs already keeps it.)
 */
function requireValues(y: Argv<any>, positionals: Set<string>): void {
  const o = optionsOf(y);
  // an alias shares its option's nargs: set on an alias too, it would override `nargs: 1` (-l of --lower ate the mount point)
  const aliases = new Set(Object.values(o.alias).flat());
  const keys = Object.keys(o.key).filter((k) => !positionals.has(k) && !aliases.has(k) && !o.boolean.includes(k) && o.narg[k] === undefined
    && (o.string.includes(k) || o.number.includes(k) || o.array.includes(k) || k in o.choices));
  if (keys.length) y.requiresArg(keys);
}

/** Turn a CommandSpec into a yargs command module. */
export function command<A>(spec: CommandSpec<A>): CommandModule<CommonArgs, A & CommonArgs> {
  return {
    command: spec.command,
    describe: spec.describe,
    builder: (y: Argv<CommonArgs>) => {
      runsCommand = spec.runsCommand ?? false;
      const b = (spec.builder ? spec.builder(y) : y) as Argv<A & CommonArgs>;
      // what it does as a comment, then the command on a line of its own: in yargs' two columns a long
      // command was wrapped mid-way, and pasted from the terminal its first line ran alone
      for (const [cmd, what] of spec.examples) b.example(`# ${what}`, '').example(cmd, '');
      const positionals = positionalsOf(spec.command);
      requireValues(b, positionals);
      current = { y: b, positionals };
      return b;
    },
    handler: async (argv) => {
      if (current) rejectNaN(toolName, argv as Record<string, unknown>, optionsOf(current.y), typedArgv);
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
  /** What --dry-run prints, when it is not the equivalent shell commands. */
  dryRun?: string;
  /** Commands, or a function that configures a tool with a default command. */
  commands: CommandModule<CommonArgs, any>[];
}

/** The parts of yargs' getOptions() read here. */
interface Options {
  key: Record<string, boolean>;
  alias: Record<string, string[]>;
  boolean: string[];
  string: string[];
  number: string[];
  array: string[];
  narg: Record<string, number>;
  choices: Record<string, unknown>;
}

/** yargs has getOptions(); its typings do not say so. */
const optionsOf = (y: Argv<any>): Options => (y as unknown as { getOptions(): Options }).getOptions();

/** A flag as the user typed it, with its value when it takes one. */
interface Typed {
  flag: string;
  key: string | undefined;
  /** for a flag that takes one: its value, or undefined when none followed */
  value?: string;
  takesValue?: boolean;
}

/**
 * Read the words as yargs would for the running command, without its
 * order of checks: yargs counts positionals before it looks for unknown
 * flags, so `mount --bogus ./m` said 'Not enough non-option arguments'
 * (--bogus had taken ./m). A word that starts with '-' (but '-' and
 * negative numbers) is a flag; the word after a flag that takes a value is
 * that value unless it looks like a flag itself; `--` ends the flags.
 */
export function readFlags(argv: readonly string[], o: Options): Typed[] {
  const canon = new Map<string, string>();
  for (const k of [...Object.keys(o.key), 'help', 'version']) {
    const main = Object.entries(o.alias).find(([m, as]) => as.includes(k))?.[0] ?? k;
    for (const n of [k, camel(k), ...(o.alias[k] ?? [])]) canon.set(n, main), canon.set(camel(n), main);
  }
  const takesValue = (k: string) => !o.boolean.includes(k) && (o.string.includes(k) || o.number.includes(k) || o.array.includes(k) || k in o.choices);
  const out: Typed[] = [];
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') break;
    if (!looksLikeFlag(w)) continue;
    const long = w.startsWith('--');
    const eq = w.indexOf('=');
    const names = long ? [w.slice(2, eq > 0 ? eq : undefined)] : [...w.slice(1, eq > 0 ? eq : undefined)];
    for (let j = 0; j < names.length; j++) {
      const name = names[j]!;
      let key = canon.get(name);
      // --no-X: X set to false, no value follows
      const negated = key === undefined && long && name.startsWith('no-');
      if (negated) key = canon.get(name.slice(3));
      const flag = long ? w.split('=')[0]! : `-${name}`;
      if (key === undefined || negated || !takesValue(key)) {
        out.push({ flag, key });
        continue;
      }
      // a short flag's value can follow it in the same word (-p8080:80)
      const rest = long ? undefined : names.slice(j + 1).join('');
      const value = eq > 0 ? w.slice(eq + 1) : rest ? rest : looksLikeFlag(argv[i + 1]) ? undefined : argv[++i];
      out.push({ flag, key, takesValue: true, ...(value !== undefined ? { value } : {}) });
      break;
    }
  }
  return out;
}

/**
 * The usage error in the words as typed, in the order a user fixes them:
 * unknown flags first, then a flag without its value.
 */
function typedProblem(tool: ToolSpec, argv: readonly string[]): UsageError | undefined {
  if (!current) return undefined;
  const help = `see '${tool.name} --help'`;
  const flags = readFlags(argv, optionsOf(current.y));
  const unknown = [...new Set(flags.filter((f) => f.key === undefined).map((f) => f.flag))];
  if (unknown.length) return new UsageError(`unknown option${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`, help);
  const bare = flags.find((f) => f.takesValue && f.value === undefined);
  if (bare) return new UsageError(`${bare.flag} needs a value`, help);
  return undefined;
}

/**
 * A single-value flag given twice counts once, the last, as docker, ip and
 * mount(8) take it: yargs hands over both as an array (`--mtu 1400 --mtu
 * 1500` is [1400, 1500]), which a command then took for one value ('The
 * "path" argument must be of type string', or '64M,32M' refused as a
 * size). Flags that take many (type array), booleans, counts and the
 * command's positionals are left as they are. A middleware added before
 * the commands, so it runs before their coerces: those see the one value.
 */
function lastOfRepeated(argv: Record<string, unknown>): void {
  if (!current) return; // (no command ran its builder: yargs reports that)
  const o = optionsOf(current.y);
  const single = new Set<string>();
  for (const k of [...o.string, ...o.number, ...Object.keys(o.choices)]) {
    if (o.array.includes(k) || current.positionals.has(k)) continue;
    for (const n of [k, ...(o.alias[k] ?? [])]) single.add(n).add(camel(n));
  }
  for (const [k, v] of Object.entries(argv)) if (Array.isArray(v) && single.has(k)) argv[k] = v[v.length - 1];
}

/** A number option that is not one names what was typed (yargs hands over NaN). */
function rejectNaN(tool: string, argv: Record<string, unknown>, o: Options, typed: readonly string[]): void {
  const aliases = new Set(Object.values(o.alias).flat());
  // an empty value ('--cpus ""') is no number either: yargs hands it over as 0 ("invalid cpus '0'");
  // of a flag given twice only the last counts (lastOfRepeated), and only it is looked at
  const flags = readFlags(typed, o);
  const last = new Map(flags.filter((f) => f.value !== undefined).map((f) => [f.key, f]));
  const empty = [...last.values()].find((f) => o.number.includes(f.key ?? '') && f.value!.trim() === '');
  if (empty) throw new UsageError(`invalid ${empty.flag} '${empty.value}': not a number`, `see '${tool} --help'`);
  for (const k of o.number) {
    if (aliases.has(k)) continue;
    const v = argv[camel(k)] ?? argv[k];
    if (!(Array.isArray(v) ? v : [v]).some((n) => typeof n === 'number' && Number.isNaN(n))) continue;
    const t = flags.find((f) => f.key === k && f.value !== undefined && Number.isNaN(Number(f.value)));
    throw new UsageError(`invalid ${t?.flag ?? `--${k}`} '${t?.value ?? ''}': not a number`, `see '${tool} --help'`);
  }
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
  const first = argv.find((a) => !a.startsWith('-'));
  if (unknown !== undefined && unknown === first) {
    msg = `Unknown command: ${unknown}`;
    const near = nearest(unknown, tool.commands.flatMap((c) => [c.command, c.aliases].flat()).map((c) => String(c ?? '').split(' ')[0]!).filter((c) => c && c !== '$0'));
    return new UsageError(msg, near ? `did you mean '${tool.name} ${near}'? ${help}` : help);
  }
  // words after a command that takes no more (`run ps extra`): yargs calls them unknown commands too
  if (unknown !== undefined) {
    const words = /^Unknown commands?: (.*)$/.exec(msg)![1]!.split(', ');
    return new UsageError(`unexpected argument${words.length > 1 ? 's' : ''}: ${words.join(' ')}`, first ? `see '${tool.name} ${first} --help'` : help);
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
  // and one that cannot take it (`> /dev/full`) says so in one line, exit 1 (yargs' --help and --version print through it)
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') return;
    toStderr(`${tool.name}: ${cannotWrite(e).message}`);
    process.exit(EXIT.SYSTEM);
  });
  argv ??= process.argv.slice(2);
  typedArgv = argv;
  toolName = tool.name;
  let code: number;
  try {
    const y = withCommonFlags(makeYargs(argv), tool.dryRun)
      .scriptName(tool.name)
      .usage(`${tool.description}\n\nUsage: ${tool.name} <command> [options]`)
      .parserConfiguration({ 'populate--': true, 'strip-dashed': true })
      // before the commands' coerces (middlewares run in the order they are added)
      .middleware(lastOfRepeated, true)
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
        throw typedProblem(tool, argv!) ?? usageError(tool, msg ?? err?.message ?? 'bad usage', argv!);
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

/**
 * yargs(argv), also in a current directory someone removed, where
 * process.cwd() throws: yargs reads it at once (its config files, which
 * boxkit gives it none, and $0, which scriptName() replaces), and a tool
 * must still work there with absolute paths, as ip, unshare and docker do.
 */
function makeYargs(argv: string[]): Argv<object> {
  try {
    return yargs(argv, process.cwd()) as Argv<object>;
  } catch {
    const cwd = process.cwd;
    process.cwd = () => '/';
    try {
      return yargs(argv, '/') as Argv<object>;
    } finally {
      process.cwd = cwd;
    }
  }
}
