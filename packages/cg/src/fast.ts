/**
 * The hot path of `cg exec` without yargs, for scripts that use it as they
 * would cgexec: yargs parses and renders the command's help on every run
 * (~10-20 ms here). Ordinary flags are parsed with node's parseArgs from
 * the same limit table as the wiring; anything else (help, unknown or odd
 * flags, no `--`) returns undefined and goes to the yargs CLI, which
 * reports it properly.
 */
import { parseArgs } from 'node:util';
import { reportFailure, toStderr } from '@boxkit/common/errors';
import { exitNow } from '@boxkit/native';
import { LIMIT_OPTIONS } from './limits.js';
import { camel, looksLikeFlag } from '@boxkit/common/entry';

type Opt = { type: 'string' | 'boolean'; short?: string };
const OPTIONS: Record<string, Opt> = {
  parent: { type: 'string' },
  'dry-run': { type: 'boolean' },
  json: { type: 'boolean' },
  verbose: { type: 'boolean', short: 'v' },
  ...Object.fromEntries(LIMIT_OPTIONS.map((o) => [o.name, { type: 'string', ...(o.short ? { short: o.short } : {}) } as Opt])),
};

/** Does this flag (as typed, no `=value`) take the next word as its value? */
function takesValue(flag: string): boolean {
  const name = flag.startsWith('--') ? flag.slice(2) : Object.keys(OPTIONS).find((k) => OPTIONS[k]!.short === flag.slice(1));
  return !!name && OPTIONS[name]?.type === 'string';
}

/**
 * `cg exec GROUP [flags] CMD ARGS...` without `--`, as cgexec and ns-clone
 * take it: after the group, the first word that is not a flag (nor a
 * flag's value) starts the command, whose own flags (`sh -c`) are then
 * never taken for cg's. Puts the `--` there; any other argv comes back as
 * it was. Both parsers read what this returns: the fast one below and yargs.
 */
export function execArgv(argv: readonly string[]): string[] {
  let words = 0; // non-flag words so far: 'exec', then the group
  for (let i = 0; i < argv.length; i++) {
    const w = argv[i]!;
    if (w === '--') break;
    if (looksLikeFlag(w)) {
      if (!w.includes('=') && takesValue(w) && i + 1 < argv.length && !looksLikeFlag(argv[i + 1])) i++;
      continue;
    }
    if (words === 0 && w !== 'exec') break;
    if (++words === 3) return [...argv.slice(0, i), '--', ...argv.slice(i)];
  }
  return [...argv];
}

/** `exec GROUP [flags] -- CMD...` as the yargs wiring would hand it to runExec, or undefined to use yargs. */
export function fastParse(argv: readonly string[]): Record<string, unknown> | undefined {
  if (argv[0] !== 'exec') return undefined;
  const dd = argv.indexOf('--');
  if (dd < 0 || dd === argv.length - 1) return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1, dd), options: OPTIONS, allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  if (parsed.positionals.length !== 1) return undefined;
  const args: Record<string, unknown> = { group: parsed.positionals[0], parent: 'root', dryRun: false, json: false, verbose: false, '--': argv.slice(dd + 1) };
  for (const [k, v] of Object.entries(parsed.values)) args[camel(k)] = v;
  return args;
}

/** Run a fast-parsed exec with the yargs CLI's error reporting and exit codes (125 when cg fails first). */
export async function runFast(args: Record<string, unknown>): Promise<void> {
  let code: number;
  try {
    code = await (await import('./commands/exec.js')).runExec(args as never);
  } catch (e) {
    code = reportFailure('cg', e, toStderr, true);
  }
  // only a dry run or a failure gets here (exec replaced the process otherwise); output went out synchronously
  exitNow(code);
}
