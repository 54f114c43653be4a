/**
 * The small argv parser of the fast path (cli.ts): the commands' ordinary
 * flags, read as yargs reads them (same keys and defaults), and undefined
 * for anything it is unsure about so yargs (wiring.ts) handles that.
 */
import { apply } from './commands/apply.js';
import { add } from './commands/add.js';
import { rm } from './commands/rm.js';
import { flush } from './commands/flush.js';
import { ls } from './commands/ls.js';
import { camel } from '@boxkit/common/entry';

type Kind = 'boolean' | 'string' | 'number' | 'array';
export interface Command {
  /** flags beyond the common ones, with their defaults */
  flags: Record<string, Kind>;
  defaults: Record<string, unknown>;
  /** positional arguments: how many, and under which name */
  positional: { key: string; min: number; max: number } | undefined;
  run(a: Record<string, unknown>): Promise<number>;
}

const TARGET: Record<string, Kind> = { prefix: 'string', backend: 'string', 'dry-run': 'boolean', json: 'boolean', verbose: 'boolean' };
const SYNC: Record<string, Kind> = { ...TARGET, explain: 'boolean', partial: 'boolean', 'nodeport-range': 'string' };
const BASE = { prefix: 'BKSVC', backend: 'auto', dryRun: false, json: false, verbose: false };
const SYNC_BASE = { ...BASE, explain: false, nodeportRange: '30000-32767' };
const BACKENDS = new Set(['auto', 'nft', 'legacy']);

const ADD_FLAGS: Record<string, Kind> = { ...SYNC, vip: 'string', endpoint: 'array', nodeport: 'number', affinity: 'string', protocol: 'string' };

const COMMANDS: Record<string, Command> = {
  apply: { flags: SYNC, defaults: { ...SYNC_BASE, partial: false }, positional: { key: 'file', min: 1, max: 1 }, run: (a) => apply(a as never) },
  add: { flags: ADD_FLAGS, defaults: { ...SYNC_BASE, partial: true, endpoint: [], protocol: 'tcp' }, positional: { key: 'name', min: 1, max: 1 }, run: (a) => add(a as never) },
  rm: { flags: SYNC, defaults: { ...SYNC_BASE, partial: true }, positional: { key: 'names', min: 1, max: Infinity }, run: (a) => rm(a as never) },
  flush: { flags: { ...TARGET, explain: 'boolean' }, defaults: { ...BASE, explain: false }, positional: undefined, run: (a) => flush(a as never) },
  ls: { flags: TARGET, defaults: BASE, positional: undefined, run: (a) => ls(a as never) },
};
COMMANDS.list = COMMANDS.ls!;

/** argv -> the command and its arguments as yargs would give them, or undefined to let yargs decide. */
export function fastParse(argv: readonly string[]): { cmd: Command; args: Record<string, unknown> } | undefined {
  const cmd = COMMANDS[argv[0] ?? ''];
  if (!cmd) return undefined;
  const args: Record<string, unknown> = { ...cmd.defaults };
  const pos: string[] = [];
  for (let i = 1; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '-' || !a.startsWith('-')) {
      pos.push(a);
      continue;
    }
    let name: string;
    let value: string | undefined;
    if (a === '-v') name = 'verbose';
    else if (a.startsWith('--') && a.length > 2) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) value = a.slice(eq + 1);
    } else return undefined; // `--`, bundled short flags, -h: yargs
    let kind = cmd.flags[name];
    let negated = false;
    if (!kind && name.startsWith('no-') && cmd.flags[name.slice(3)] === 'boolean') {
      name = name.slice(3);
      kind = 'boolean';
      negated = true;
    }
    if (!kind) return undefined;
    const key = camel(name);
    if (kind === 'boolean') {
      // `--partial false` and `--partial=true` are yargs' to read
      if (value !== undefined || argv[i + 1] === 'true' || argv[i + 1] === 'false') return undefined;
      args[key] = !negated;
      continue;
    }
    if (negated) return undefined;
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('-') && next !== '-')) return undefined;
      value = next;
      i++;
    }
    if (kind === 'number') {
      if (!/^\d+$/.test(value)) return undefined;
      args[key] = Number(value);
    } else if (kind === 'array') {
      // yargs takes the words after `--endpoint A` as more values: let it
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) return undefined;
      args[key] = [...(args[key] as string[]), value];
    } else args[key] = value;
  }
  if (!BACKENDS.has(args.backend as string)) return undefined;
  const p = cmd.positional;
  if (!p ? pos.length : pos.length < p.min || pos.length > p.max) return undefined;
  if (p) args[p.key] = p.max === 1 ? pos[0] : pos;
  if (cmd === COMMANDS.add && args.vip === undefined) return undefined;
  return { cmd, args };
}

