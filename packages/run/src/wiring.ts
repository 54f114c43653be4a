/** The yargs wiring: help, validation and the subcommands. Loaded only when the fast path declines. */
import { startupSnapshot } from 'node:v8';
import { command, main } from '@boxkit/common/cli';
import type { Argv, Options } from 'yargs';
import { preresolveTrampoline } from '@boxkit/native';
import pkg from '../package.json' with { type: 'json' };
import type { ExecArgs } from './commands/exec.js';
import type { RunArgs } from './commands/run.js';
import { KEEPER_WORD } from './container/keeper.js';
import { EXEC_OPTIONS, execArgv, RUN_OPTIONS, runArgv, type Opt } from './options.js';
import { readWords, SUBCOMMAND_WORDS } from './words.js';
import { BoxkitError, reportFailure, toStderr } from '@boxkit/common/errors';

const COMMON = new Set(['dry-run', 'json', 'verbose']);

/**
 * A row of an options table as a yargs option. A list (-e, -p, --layer) takes one value per
 * flag, repeated as docker's: yargs' array options are greedy (`exec -e A=1 web env` took
 * `web` and `env` for more -e values), so it is an array of one value per flag (nargs 1),
 * strings as typed. (Not a string option gathered into a list by a coerce, as it was: common's
 * one-value-flag rule, which keeps the last of a string given twice, then kept only B=2 of
 * `-e A=1 -e B=2`.)
 */
function optionOf(o: Opt): Options {
  const list: Options = o.type === 'array' ? { type: 'array', string: true, nargs: 1 } : { type: o.type };
  return { ...list, describe: o.describe, ...(o.alias ? { alias: o.alias } : {}), ...(o.default !== undefined ? { default: o.default } : {}) };
}

const runCommand = command<RunArgs>({
  command: '$0 [cmd..]',
  describe: 'create and start a container: union mount, cgroup, namespaces, network, pivot_root, exec',
  runsCommand: true,
  builder: (y) => {
    let b = (y as Argv).positional('cmd', { type: 'string', array: true, describe: 'the command (put it after --)' });
    for (const [name, o] of Object.entries(RUN_OPTIONS)) {
      if (COMMON.has(name)) continue;
      b = b.option(name, optionOf(o));
    }
    return b as unknown as Argv<RunArgs>;
  },
  examples: [
    ["run --rm -- sh -c 'hostname; echo $$; ls /'", 'a throw-away container on the built-in busybox rootfs'],
    ['run --rm --net bridge --ip auto --cpus 0.5 --memory 32M --pids 20 -- ping -c1 10.88.0.1', 'bridge network and limits'],
    ['run -d --name web --net bridge -p 8080:80 -- httpd -f -p 80', 'a detached web server published on port 8080'],
    ['run --rm -it -- sh', 'an interactive shell on a pseudo-terminal'],
    ['run --dry-run --net bridge -- sh', 'print the equivalent pipeline of boxkit commands'],
  ],
  run: async (a) => (await import('./commands/run.js')).runContainer(a),
});
const rootfsCommand = command<{ dir?: string; fromHost?: string[]; default: boolean }>({
  command: 'rootfs [dir]',
  describe: 'build a root filesystem: host executables with their libraries, or the built-in busybox one',
  builder: (y) =>
    y
      .positional('dir', { type: 'string', describe: 'directory to fill: new, empty, or a root filesystem to add to' })
      .option('from-host', { type: 'string', array: true, describe: 'host executables to copy with their shared-library closure' })
      .option('default', { type: 'boolean', default: false, describe: '(re)build the built-in busybox rootfs in the data dir' }) as never,
  examples: [
    ['run rootfs ./rootfs --from-host /bin/bash /bin/ls', 'bash and ls with their libraries and the dynamic loader'],
    ['run rootfs --default', 'build the busybox rootfs that `run` uses by default'],
  ],
  run: async (a) => (await import('./commands/rootfs.js')).rootfs(a),
});

const psCommand = command<{ all: boolean; quiet: boolean }>({
  command: ['ps', 'ls'],
  describe: 'list containers (running ones; -a for all)',
  builder: (y) =>
    y.option('all', { alias: 'a', type: 'boolean', default: false, describe: 'include exited and half-made containers' })
      .option('quiet', { alias: 'q', type: 'boolean', default: false, describe: 'names only' }) as never,
  examples: [['run ps -a', 'every container, with status and address'], ['run ps --json | jq -r ".[].name"', 'names for scripts']],
  run: async (a) => (await import('./commands/ps.js')).ps(a),
});

const execCommand = command<ExecArgs>({
  command: 'exec <name> [cmd..]',
  describe: 'run a command in a running container (all its namespaces and its cgroup)',
  runsCommand: true,
  builder: (y) => {
    let b = (y as Argv).positional('name', { type: 'string', demandOption: true })
      .positional('cmd', { type: 'string', array: true, describe: 'the command: every word after NAME (its flags too)' });
    for (const [name, o] of Object.entries(EXEC_OPTIONS)) b = b.option(name, optionOf(o));
    return b as never;
  },
  examples: [['run exec web ps -ef', 'processes as the container sees them'], ['run exec -u nobody -w /tmp web sh -c "id; pwd"', 'as another user, elsewhere'], ['run exec -it web sh', 'an interactive shell on a pseudo-terminal']],
  run: async (a) => (await import('./commands/exec.js')).exec(a),
});

const logsCommand = command<{ name: string; follow: boolean; tail?: string }>({
  command: 'logs <name>',
  describe: "a detached container's stdout and stderr",
  builder: (y) =>
    y.positional('name', { type: 'string', demandOption: true })
      .option('follow', { alias: 'f', type: 'boolean', default: false, describe: 'keep printing until the container exits' })
      .option('tail', { alias: 'n', type: 'string', describe: 'only the last N lines of each stream (default: all)' }) as never,
  examples: [['run logs -f web', 'follow the output of web'], ['run logs --tail 20 -f web', 'the last 20 lines, then what follows']],
  run: async (a) => (await import('./commands/logs.js')).logs(a),
});

const stopCommand = command<{ names: string[]; time?: number }>({
  command: 'stop <names..>',
  describe: 'stop containers: SIGTERM to PID 1, SIGKILL after --time seconds',
  builder: (y) =>
    y.positional('names', { type: 'string', array: true, demandOption: true })
      // no default here: without --time each container's own --stop-timeout applies (as docker stop)
      .option('time', { alias: 't', type: 'number', describe: "seconds to wait before SIGKILL (default: the container's --stop-timeout, else 10)" }) as never,
  examples: [['run stop --time 2 web', 'give web 2 seconds to exit']],
  run: async (a) => (await import('./commands/stop.js')).stop(a),
});

const rmCommand = command<{ names: string[]; force: boolean }>({
  command: 'rm <names..>',
  describe: 'remove containers: mount, cgroup, network links, address lease, state',
  builder: (y) =>
    y.positional('names', { type: 'string', array: true, demandOption: true })
      .option('force', { alias: 'f', type: 'boolean', default: false, describe: 'kill running containers first' }) as never,
  examples: [['run rm -f web', 'kill and remove web']],
  run: async (a) => (await import('./commands/rm.js')).rm(a),
});

const inspectCommand = command<{ names: string[] }>({
  command: 'inspect <names..>',
  describe: 'print what boxkit knows about containers (JSON)',
  builder: (y) => y.positional('names', { type: 'string', array: true, demandOption: true }) as never,
  examples: [['run inspect web | jq ".[0].pid"', "web's PID 1 as the host sees it"]],
  run: async (a) => (await import('./commands/inspect.js')).inspect(a),
});

const gcCommand = command<object>({
  command: 'gc',
  describe: 'remove what crashed runs left behind (half-made and orphaned --rm containers)',
  examples: [['run gc --dry-run', 'show what would be removed']],
  run: async (a) => (await import('./commands/gc.js')).gc(a),
});

const tool = {
  name: 'run',
  version: pkg.version,
  description: pkg.description,
  commands: [rootfsCommand, psCommand, execCommand, logsCommand, stopCommand, rmCommand, inspectCommand, gcCommand, runCommand],
};

/** The full CLI through yargs; `exec NAME CMD -x` and `run CMD -x` get their `--` first (see execArgv, runArgv). */
export function yargsMain(typed: string[]): void {
  // a keeper started from this blob (cli.blob missing): see keeper.ts
  if (typed[0] === KEEPER_WORD) return void import('./container/keeper.js').then((k) => k.keep(typed.slice(1)));
  // the bin starts this blob for help and subcommand words: read them as cli.ts does
  const words = readWords(typed);
  if ('refuse' in words) {
    process.exitCode = reportFailure('run', new BoxkitError('EUSAGE', words.refuse, { hint: words.hint, exitCode: 125 }), toStderr, true);
    return;
  }
  const argv = words.argv;
  void main(tool, argv[0] === 'exec' ? execArgv(argv) : SUBCOMMAND_WORDS.has(argv[0] ?? '') || argv[0] === 'help' ? argv : runArgv(argv));
}

// building dist/wiring.blob: yargsMain runs when the blob is deserialized, where `node --snapshot-blob B
// -- ARGS` leaves argv = [node, ...ARGS] (common's main(tool) would register itself, without execArgv)
if (startupSnapshot?.isBuildingSnapshot()) {
  preresolveTrampoline();
  startupSnapshot.setDeserializeMainFunction(() => yargsMain(process.argv.slice(1)));
}
