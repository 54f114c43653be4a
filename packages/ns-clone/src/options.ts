/**
 * The flags of the default command, as one table: yargs is built from it
 * (help, validation) and so is the small parser that runs the common case
 * without loading yargs at all, which keeps ns-clone's start-up close to
 * bare Node's. Whatever the small parser is unsure about goes to yargs.
 */
import { camel, looksLikeFlag } from '@boxkit/common/entry';
export type OptType = 'boolean' | 'string' | 'number' | 'array';

export interface Opt {
  type: OptType;
  describe: string;
  alias?: string;
  group: string;
  default?: unknown;
}

const NS = 'Namespaces (create):';
const FS = 'Filesystem:';
const ID = 'User namespace and ids:';
const PROC = 'Process:';

export const RUN_OPTIONS: Record<string, Opt> = {
  mount: { type: 'boolean', alias: 'm', group: NS, describe: 'new mount namespace (--mount=PATH also persists it at PATH)' },
  uts: { type: 'boolean', alias: 'u', group: NS, describe: 'new UTS namespace (hostname)' },
  ipc: { type: 'boolean', alias: 'i', group: NS, describe: 'new IPC namespace (SysV IPC, POSIX queues)' },
  pid: { type: 'boolean', alias: 'p', group: NS, describe: 'new PID namespace: CMD is PID 1' },
  net: { type: 'boolean', alias: 'n', group: NS, describe: 'new network namespace: only lo (--net=PATH persists it)' },
  user: { type: 'boolean', alias: 'U', group: NS, describe: 'new user namespace' },
  cgroup: { type: 'boolean', alias: 'C', group: NS, describe: 'new cgroup namespace (its root is the current cgroup)' },
  time: { type: 'boolean', alias: 'T', group: NS, describe: 'new time namespace (CMD runs in a forked child)' },
  all: { type: 'boolean', group: NS, describe: 'all of the above except user and time' },
  persist: { type: 'array', group: NS, describe: 'KIND=PATH: bind-mount the new namespace file at PATH (same as --KIND=PATH)' },
  netns: { type: 'string', group: 'Namespaces (join):', describe: 'join a network namespace: a name in /var/run/netns or a path' },
  hostname: { type: 'string', group: NS, describe: 'set the hostname (implies --uts)' },
  root: { type: 'string', alias: 'R', group: FS, describe: 'pivot_root into DIR (implies --mount); the old root is detached' },
  'mount-proc': { type: 'boolean', group: FS, describe: 'mount a fresh /proc (implies --mount, as with unshare; default with --pid and --mount)' },
  'readonly-root': { type: 'boolean', group: FS, describe: 'make the root filesystem read-only' },
  'map-root-user': { type: 'boolean', alias: 'r', group: ID, describe: 'map root inside to your uid/gid outside (implies --user)' },
  'map-current-user': { type: 'boolean', alias: 'c', group: ID, describe: 'map your uid/gid to the same ids inside (implies --user)' },
  'map-user': { type: 'number', group: ID, describe: 'map UID inside to your uid outside (implies --user)' },
  'map-group': { type: 'number', group: ID, describe: 'map GID inside to your gid outside (implies --user)' },
  'map-users': { type: 'array', group: ID, describe: 'inner:outer:count uid range (repeatable; newuidmap when unprivileged)' },
  'map-groups': { type: 'array', group: ID, describe: 'inner:outer:count gid range (repeatable; newgidmap when unprivileged)' },
  uid: { type: 'number', group: ID, describe: 'run CMD as this uid inside' },
  gid: { type: 'number', group: ID, describe: 'run CMD as this gid inside' },
  init: { type: 'boolean', group: PROC, describe: 'a small init at PID 1 forwards signals and reaps orphans (CMD is PID 2; implies --pid)' },
  'stop-timeout': { type: 'number', group: PROC, default: 10, describe: 'seconds after SIGINT/SIGTERM before SIGKILL' },
  detach: { type: 'boolean', alias: 'd', group: PROC, describe: 'start CMD and print its pid and namespace files; do not wait' },
  'wait-for-setup': { type: 'boolean', group: PROC, describe: 'CMD waits on a fifo until `ns-clone release PID` (see README)' },
  'setup-fifo': { type: 'string', group: PROC, describe: 'the fifo for --wait-for-setup (default: made in the state dir)' },
  setenv: { type: 'array', group: PROC, describe: 'NAME=VALUE in CMD\'s environment (repeatable)' },
  'env-clear': { type: 'boolean', group: PROC, describe: 'start CMD with an empty environment (plus --setenv)' },
  wd: { type: 'string', alias: 'w', group: PROC, describe: 'working directory inside' },
  // yargs reads --no-new-privs as new-privs=false (wiring.ts declares that one, hidden); this parser takes the flag as written
  'no-new-privs': { type: 'boolean', group: PROC, describe: 'set PR_SET_NO_NEW_PRIVS: setuid bits and file capabilities stop working for CMD' },
  // unshare needs -f with --pid to make CMD PID 1; ns-clone's CMD always is its child
  fork: { type: 'boolean', alias: 'f', group: PROC, describe: "accepted for unshare's -f: CMD is always ns-clone's child (PID 1 with --pid)" },
  'dry-run': { type: 'boolean', group: 'Common options:', describe: 'print the plan as shell commands and change nothing' },
  json: { type: 'boolean', group: 'Common options:', describe: 'print one JSON document on stdout (with --detach)' },
  verbose: { type: 'boolean', alias: 'v', group: 'Common options:', describe: 'print each step before running it' },
};

const ALIASES = new Map(Object.entries(RUN_OPTIONS).filter(([, o]) => o.alias).map(([k, o]) => [o.alias!, k]));
const NS_NAMES = new Set(['mount', 'uts', 'ipc', 'pid', 'net', 'user', 'cgroup', 'time']);

/**
 * unshare's grouped short flags (`-fp`, `-Urm`) one by one: `-f -p`. A
 * letter that takes a value ends the group; the rest of the word is that
 * value (`-wDIR`), as getopt reads it. A group with a letter that is not
 * ours stays as written (yargs names it).
 */
function splitShort(a: string): string[] | undefined {
  if (!/^-[A-Za-z]{2,}$/.test(a)) return undefined;
  const out: string[] = [];
  for (let j = 1; j < a.length; j++) {
    const name = ALIASES.get(a[j]!);
    if (!name) return undefined;
    out.push(`-${a[j]}`);
    if (RUN_OPTIONS[name]!.type !== 'boolean') {
      if (j + 1 < a.length) out.push(a.slice(j + 1));
      break;
    }
  }
  return out;
}

/**
 * Rewrite `--KIND=PATH` (unshare's persist syntax, which yargs cannot
 * express for a boolean) into `--KIND --persist KIND=PATH`, split grouped
 * short flags, and put `--` before the command so its own flags are never
 * taken for ours.
 */
export function normalizeArgv(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return [...out, ...argv.slice(i)];
    // (`--net=` too: an empty PATH is refused as such; it was read as --net false, and CMD ran in our netns)
    const eq = /^--([a-z]+)=(.*)$/.exec(a);
    if (eq && NS_NAMES.has(eq[1]!)) {
      out.push(`--${eq[1]}`, '--persist', `${eq[1]}=${eq[2]}`);
      continue;
    }
    if (!a.startsWith('-') || a === '-') return [...out, '--', ...argv.slice(i)];
    const split = splitShort(a);
    if (split) {
      out.push(...split);
      const last = split.at(-1)!;
      const opt = RUN_OPTIONS[ALIASES.get(last.slice(1)) ?? ''];
      // `-pw DIR`: the value is the next word, as for `-w DIR`
      if (/^-[A-Za-z]$/.test(last) && opt && opt.type !== 'boolean' && i + 1 < argv.length && !looksLikeFlag(argv[i + 1]!)) out.push(argv[++i]!);
      continue;
    }
    out.push(a);
    const name = a.startsWith('--') ? a.slice(2) : ALIASES.get(a.slice(1));
    const opt = name ? RUN_OPTIONS[name] : undefined;
    // a flag's value, unless the next word is a flag (then this one has none: yargs says so)
    if (opt && opt.type !== 'boolean' && !a.includes('=') && i + 1 < argv.length && !looksLikeFlag(argv[i + 1]!)) out.push(argv[++i]!);
  }
  return out;
}

export type RunArgs = Record<string, unknown> & { '--'?: string[] };

/**
 * Parse normalized argv for the default command, or return undefined when
 * yargs should (help, unknown flags, missing values, a subcommand).
 */
export function fastParse(argv: readonly string[]): RunArgs | undefined {
  const out: RunArgs = {};
  for (const [k, o] of Object.entries(RUN_OPTIONS)) if (o.default !== undefined) out[camel(k)] = o.default;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out['--'] = argv.slice(i + 1);
      return out;
    }
    let name: string | undefined, value: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      if (eq > 0) value = a.slice(eq + 1);
    } else if (/^-[A-Za-z]$/.test(a)) name = ALIASES.get(a[1]!);
    else return undefined;
    let negated = false;
    if (name && !RUN_OPTIONS[name] && name.startsWith('no-') && RUN_OPTIONS[name.slice(3)]?.type === 'boolean') {
      name = name.slice(3);
      negated = true;
    }
    const opt = name ? RUN_OPTIONS[name] : undefined;
    if (!opt || !name) return undefined;
    const key = camel(name);
    if (opt.type === 'boolean') {
      if (value !== undefined) return undefined;
      out[key] = !negated;
      continue;
    }
    if (negated) return undefined;
    if (value === undefined) {
      if (i + 1 >= argv.length || looksLikeFlag(argv[i + 1]!)) return undefined;
      value = argv[++i]!;
    }
    if (opt.type === 'number') {
      if (!/^-?\d+(\.\d+)?$/.test(value)) return undefined;
      out[key] = Number(value);
    } else if (opt.type === 'array') out[key] = [...((out[key] as string[] | undefined) ?? []), value];
    else out[key] = value;
  }
  out['--'] = [];
  return out;
}
