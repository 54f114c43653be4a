/**
 * The flags of `run [options] -- CMD`, as one table: the yargs wiring is
 * built from it (help, validation), and so is the small parser that runs
 * the common case without yargs (parsing ~30 options through yargs costs
 * more CPU than the whole container setup). Whatever the small parser is
 * unsure about goes to yargs.
 */
import type { RunArgs } from './commands/run.js';
import { camel, looksLikeFlag } from '@boxkit/common/entry';

export type OptType = 'boolean' | 'string' | 'number' | 'array';
export interface Opt {
  type: OptType;
  describe: string;
  alias?: string;
  default?: unknown;
}

export const RUN_OPTIONS: Record<string, Opt> = {
  name: { type: 'string', describe: 'container name (default: bk-<id>)' },
  rootfs: { type: 'string', describe: 'root filesystem directory (lower layer; default: the built-in busybox rootfs)' },
  image: { type: 'string', describe: 'image directory or tarball used as the lower layer (alternative to --rootfs)' },
  layer: { type: 'array', describe: 'extra read-only layer above the rootfs (repeatable, topmost last)' },
  volume: { type: 'array', describe: "bind-mount a host path: HOST:CONTAINER[:ro] (docker's -v; -v is --verbose here)" },
  hostname: { type: 'string', describe: 'hostname inside (default: the name)' },
  net: { type: 'string', default: 'none', describe: 'none | host | bridge[:BRIDGE] (the bridge: boxkit0 unless named)' },
  ip: { type: 'string', describe: "address with --net bridge: CIDR (10.10.15.2/24), an address (the bridge's prefix), or auto" },
  publish: { alias: 'p', type: 'array', describe: 'publish a container port: [IP:][HOSTPORT:]PORT[/udp]; without HOSTPORT a free host port (run ps shows it), without IP every address' },
  cpus: { type: 'number', describe: 'CPU limit in cores (0.5 = half a core)' },
  'cpu-quota': { type: 'number', describe: 'CFS quota in microseconds per period' },
  'cpu-period': { type: 'number', describe: 'CFS period in microseconds (default 100000)' },
  memory: { alias: 'm', type: 'string', describe: 'memory limit (32M, 1G; max or -1: none); exceeding it OOM-kills (137)' },
  pids: { type: 'number', describe: 'maximum number of processes (pids.max): 1..4194304, or -1 for none' },
  env: { alias: 'e', type: 'array', describe: 'set an environment variable NAME=VALUE' },
  workdir: { alias: 'w', type: 'string', default: '/', describe: 'working directory inside' },
  user: { alias: 'u', type: 'string', describe: "user[:group] (names from the container's /etc/passwd)" },
  'read-only': { type: 'boolean', default: false, describe: "mount the container's root read-only" },
  'cgroup-parent': { type: 'string', default: 'boxkit', describe: "parent cgroup path, or self (under this process's cgroup)" },
  detach: { alias: 'd', type: 'boolean', default: false, describe: 'run in the background; print the id' },
  rm: { type: 'boolean', default: false, describe: 'remove the container when it exits' },
  interactive: { alias: 'i', type: 'boolean', default: false, describe: 'keep stdin open' },
  tty: { alias: 't', type: 'boolean', default: false, describe: 'give the container a pseudo-terminal (window size passed on)' },
  init: { type: 'boolean', default: false, describe: 'run a small init as PID 1 that reaps and forwards signals' },
  privileged: { type: 'boolean', default: false, describe: 'keep all capabilities, no masked or read-only paths' },
  'stop-timeout': { type: 'number', default: 10, describe: 'seconds between SIGTERM and SIGKILL when stopping' },
  'dry-run': { type: 'boolean', default: false, describe: 'print the equivalent pipeline of boxkit commands' },
  json: { type: 'boolean', default: false, describe: 'print one JSON document' },
  verbose: { alias: 'v', type: 'boolean', default: false, describe: 'print each step as it runs' },
};

const ALIASES = new Map(Object.entries(RUN_OPTIONS).filter(([, o]) => o.alias).map(([k, o]) => [o.alias!, k]));

/**
 * Parse `[options] [--] CMD...` (the command starts at `--` or at the first
 * word that is not an option, as with docker). Returns undefined for
 * anything unusual (help, unknown flags, bad numbers): yargs decides then.
 */
export function fastParse(argv: readonly string[]): RunArgs | undefined {
  const out: Record<string, unknown> = {};
  for (const [k, o] of Object.entries(RUN_OPTIONS)) if (o.default !== undefined) out[camel(k)] = o.default;
  const set = (name: string, value: string | undefined): boolean => {
    const opt = RUN_OPTIONS[name];
    if (!opt) return false;
    const key = camel(name);
    if (opt.type === 'boolean') {
      if (value !== undefined) return false;
      out[key] = true;
    } else if (value === undefined) return false;
    else if (opt.type === 'number') {
      if (!/^\d+(\.\d+)?$/.test(value)) return false;
      out[key] = Number(value);
    } else if (opt.type === 'array') out[key] = [...((out[key] as string[] | undefined) ?? []), value];
    else out[key] = value;
    return true;
  };
  const needsValue = (name: string | undefined) => !!name && RUN_OPTIONS[name] !== undefined && RUN_OPTIONS[name]!.type !== 'boolean';
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--' || !a.startsWith('-') || a === '-') {
      out['--'] = argv.slice(a === '--' ? i + 1 : i);
      return out as unknown as RunArgs;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      let value = eq > 0 ? a.slice(eq + 1) : undefined;
      if (value === undefined && needsValue(name)) {
        if (i + 1 >= argv.length || looksLikeFlag(argv[i + 1]!)) return undefined;
        value = argv[++i]!;
      }
      if (!set(name, value)) return undefined;
      continue;
    }
    // short flags: -d, -it, -p 8080:80, -e A=1
    const letters = a.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const name = ALIASES.get(letters[j]!);
      if (!name) return undefined;
      if (needsValue(name)) {
        if (j + 1 === letters.length && (i + 1 >= argv.length || looksLikeFlag(argv[i + 1]!))) return undefined;
        const value = j + 1 < letters.length ? letters.slice(j + 1) : argv[++i];
        if (value === undefined || !set(name, value)) return undefined;
        break;
      }
      if (!set(name, undefined)) return undefined;
    }
  }
  out['--'] = [];
  return out as unknown as RunArgs;
}

/** The flags of `run exec [options] NAME CMD...`, one table for the yargs wiring and for execArgv. */
export const EXEC_OPTIONS: Record<string, Opt> = {
  env: { alias: 'e', type: 'array', describe: 'extra NAME=VALUE' },
  workdir: { alias: 'w', type: 'string', describe: "working directory inside (default: the container's)" },
  user: { alias: 'u', type: 'string', describe: "user[:group] (default: the container's --user)" },
  privileged: { type: 'boolean', default: false, describe: 'keep all capabilities' },
  detach: { alias: 'd', type: 'boolean', default: false, describe: 'do not wait' },
  interactive: { alias: 'i', type: 'boolean', default: false, describe: 'pass stdin on (else the command reads /dev/null, as with run)' },
  tty: { alias: 't', type: 'boolean', default: false, describe: 'give the command a pseudo-terminal (window size passed on)' },
};

/** Flags every subcommand takes (common's withCommonFlags, help): none takes a value. */
const COMMON_FLAGS = new Set(['dry-run', 'json', 'verbose', 'v', 'help', 'h']);

/**
 * `exec [options] NAME CMD...` as docker reads it: the command starts at the
 * first word after NAME, so its own flags (`ls -la`) are not taken for
 * exec's. Puts a `--` after NAME for yargs (a `--` before NAME ends exec's
 * flags, as docker's); anything it does not know (an unknown flag, a
 * missing value) is left as typed, for yargs to judge.
 */
export function execArgv(argv: readonly string[]): string[] {
  return commandArgv(argv, 1, EXEC_OPTIONS, 1);
}

/**
 * `run [options] CMD...` on the yargs path (the fast parser declined, e.g.
 * `--read-only=false`): as fastParse, the command starts at the first word
 * that is not an option, so `sh -c X` keeps its -c. Puts a `--` there.
 */
export function runArgv(argv: readonly string[]): string[] {
  return commandArgv(argv, 0, RUN_OPTIONS, 0);
}

/**
 * `argv` with a `--` put before the command: after `names` words that are
 * not options (exec's NAME), past the flags of `table` and the common ones,
 * from index `from`. A `--` typed before those words ends the flags there.
 */
function commandArgv(argv: readonly string[], from: number, table: Record<string, Opt>, names: number): string[] {
  const takesValue = (name: string): boolean | undefined => {
    if (COMMON_FLAGS.has(name) || COMMON_FLAGS.has(name.replace(/^no-/, ''))) return false;
    const long = table[name] ?? table[name.replace(/^no-/, '')];
    const opt = long ?? Object.values(table).find((o) => o.alias === name);
    return opt && opt.type !== 'boolean';
  };
  const split = (at: number, named: number): string[] => {
    const cmd = at + named;
    if (cmd >= argv.length) return [...argv];
    return argv[cmd] === '--' ? [...argv] : [...argv.slice(0, cmd), '--', ...argv.slice(cmd)];
  };
  for (let i = from; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      if (names === 0 || i + names >= argv.length) return [...argv];
      // `exec -e A=1 -- NAME CMD`: the names follow the --
      const rest = [...argv.slice(0, i), ...argv.slice(i + 1)];
      return rest.length > i + names ? [...rest.slice(0, i + names), '--', ...rest.slice(i + names)] : rest;
    }
    if (!a.startsWith('-') || a === '-') return split(i, names);
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const v = takesValue(eq > 0 ? a.slice(2, eq) : a.slice(2));
      if (v === undefined) return [...argv];
      if (v && eq < 0) i++;
      continue;
    }
    // short flags: -d, -u 1, -u1, -de A=1
    const letters = a.slice(1);
    for (let j = 0; j < letters.length; j++) {
      const v = takesValue(letters[j]!);
      if (v === undefined) return [...argv];
      if (v) {
        if (j + 1 === letters.length) i++;
        break;
      }
    }
  }
  return [...argv];
}
