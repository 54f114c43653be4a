/**
 * The hot path of `netsetup veth` and `netsetup down` without yargs: yargs
 * renders and caches the command's help on every run (~10-30 ms here, more
 * than a veth's own work). Ordinary flags are parsed with node's parseArgs
 * from a table; anything else (help, unknown or odd flags) returns
 * undefined and goes to the yargs CLI, which reports it properly.
 */
import { parseArgs } from 'node:util';
import { reportFailure, toStderr } from '@boxkit/common/errors';
import { afterStdout } from '@boxkit/common/stdio';
import { exitNow } from '@boxkit/native';
import { camel } from '@boxkit/common/entry';
import { mark, printPhases } from '@boxkit/common/phases';

type Opt = { type: 'string' | 'boolean'; multiple?: boolean; short?: string };
const common: Record<string, Opt> = { 'dry-run': { type: 'boolean' }, json: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' } };

const TABLE: Record<string, { options: Record<string, Opt>; numbers: string[] }> = {
  veth: {
    options: {
      ...common, netns: { type: 'string' }, pid: { type: 'string' }, bridge: { type: 'string' }, ip: { type: 'string' },
      gateway: { type: 'string' }, ifname: { type: 'string' }, 'host-ifname': { type: 'string' }, mtu: { type: 'string' }, hairpin: { type: 'boolean' },
    },
    numbers: ['pid', 'mtu'],
  },
  down: {
    options: { ...common, netns: { type: 'string', multiple: true }, pid: { type: 'string', multiple: true }, 'host-ifname': { type: 'string', multiple: true } },
    numbers: ['pid'],
  },
};

/** The command's argument object as yargs would build it, or undefined to use yargs. */
export function fastParse(argv: readonly string[]): { cmd: 'veth' | 'down'; args: Record<string, unknown> } | undefined {
  const cmd = argv[0];
  if (cmd !== 'veth' && cmd !== 'down') return undefined;
  let parsed;
  try {
    parsed = parseArgs({ args: argv.slice(1), options: TABLE[cmd]!.options, allowPositionals: true, strict: true });
  } catch {
    return undefined;
  }
  if (parsed.positionals.length > 1 || (parsed.positionals[0] !== undefined && parsed.positionals[0] !== '-')) return undefined;
  const args: Record<string, unknown> = { dryRun: false, json: false, verbose: false };
  if (cmd === 'veth') Object.assign(args, { ip: 'auto', ifname: 'eth0', hairpin: false });
  for (const [k, v] of Object.entries(parsed.values)) {
    const num = TABLE[cmd]!.numbers.includes(k);
    args[camel(k)] = num ? (Array.isArray(v) ? v.map(toNumber) : toNumber(v)) : v;
  }
  if (parsed.positionals[0]) args.batch = '-';
  return { cmd, args };
}

/** '' is no number: NaN sends it to yargs, which names the flag (Number('') was 0: "invalid mtu '0'"). */
const toNumber = (x: unknown): number => (String(x).trim() === '' ? NaN : Number(x));

/** Run a fast-parsed command with the same error reporting and exit codes as the yargs CLI. */
export async function runFast(p: { cmd: 'veth' | 'down'; args: Record<string, unknown> }): Promise<void> {
  let code = 0;
  mark('entry');
  try {
    const r = p.cmd === 'veth'
      ? await (await import('./commands/veth.js')).vethCommand(p.args as never)
      : await (await import('./commands/down.js')).downCommand(p.args as never);
    code = typeof r === 'number' ? r : 0;
  } catch (e) {
    code = reportFailure('netsetup', e, toStderr);
  }
  process.exitCode = code;
  mark('done');
  printPhases();
  // the output went out synchronously (common's stdio): Node's teardown is not needed
  afterStdout(() => exitNow(code));
}
