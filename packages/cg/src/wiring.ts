/**
 * cg's yargs wiring: help, validation and every command, each command's
 * work in commands/<verb>.ts imported lazily. A bundle of its own
 * (dist/wiring.cjs) with a startup snapshot of its own (dist/wiring.blob):
 * the bin starts it for every command but `exec`, and the fast path
 * (cli.ts) loads it when its parser declines.
 */
import { startupSnapshot } from 'node:v8';
import type { CommonArgs } from '@boxkit/common';
import { command, main, type ToolSpec } from '@boxkit/common/cli';
import type { Argv } from 'yargs';
import pkg from '../package.json' with { type: 'json' };
import { withLimitFlags } from './limits.js';
import { DEFAULT_GROUP } from './group.js';
import { execArgv } from './fast.js';
import { preresolveTrampoline } from '@boxkit/native';

const withParent = <T>(y: Argv<T>) =>
  y.option('parent', {
    type: 'string',
    default: 'root',
    // a bare --parent must not quietly mean the default (root: groups at the top of the host's hierarchies)
    requiresArg: true,
    describe: "where the group lives: 'root' (<hierarchy>/boxkit/GROUP), 'self' (under this process's own cgroup) or a path below the hierarchy root",
  });
const group = (y: Argv<CommonArgs>, required = true) =>
  withParent(y.positional('group', { type: 'string', describe: `group name${required ? '' : ` (default: ${DEFAULT_GROUP})`}`, default: required ? undefined : DEFAULT_GROUP }));

const controllerCmd = (name: 'cpu' | 'memory' | 'pids' | 'cpuset' | 'io' | 'devices', describe: string, flags: (y: Argv<CommonArgs>) => Argv<CommonArgs>, examples: [string, string][]) =>
  command({
    command: `${name} [group]`,
    describe,
    builder: (y) => flags(group(y, false) as unknown as Argv<CommonArgs>),
    examples,
    run: async (a) => (await import('./commands/controller.js')).runController(name, a as never),
  });

const tool: ToolSpec = {
  name: 'cg',
  version: pkg.version,
  description: pkg.description,
  commands: [
    controllerCmd('cpu', 'set CPU bandwidth or weight (cpu.cfs_quota_us / cpu.max, cpu.shares / cpu.weight)', (y) =>
      y.option('quota', { type: 'string', describe: 'CPU time per period in µs (>= 1000, or max)' })
        .option('period', { type: 'string', describe: 'period in µs (default 100000)' })
        .option('cpus', { type: 'string', describe: 'number of CPUs, e.g. 0.5 or 1.5 (sets the quota)' })
        .option('shares', { type: 'string', describe: 'v1 cpu.shares 2..262144 (converted to cpu.weight on v2)' })
        .option('weight', { type: 'string', describe: 'v2 cpu.weight 1..10000 (converted to cpu.shares on v1)' })
        .conflicts('quota', 'cpus').conflicts('shares', 'weight'),
      [['cg cpu --quota 50000', 'the article: at most 50 ms of CPU per 100 ms in group boxkit/default'], ['cg cpu web --cpus 1.5 --dry-run', 'print the mkdir/echo lines']]),
    controllerCmd('memory', 'set memory limits (memory.limit_in_bytes / memory.max)', (y) =>
      y.option('max', { type: 'string', describe: 'hard limit: 64M, 1G or max (over it: reclaim, then OOM kill)' })
        .option('swap', { type: 'string', describe: 'swap allowed on top of --max (v1: memsw = max + swap; v2: memory.swap.max)' })
        .option('high', { type: 'string', describe: 'soft limit (v2 memory.high throttles; v1 soft_limit_in_bytes)' }),
      [['cg memory --max 64M', 'limit group boxkit/default to 64 MiB'], ['cg memory web --max 1G --swap 0', 'no swap on top']]),
    controllerCmd('pids', 'limit the number of processes (pids.max)', (y) => y.option('max', { type: 'string', describe: 'maximum tasks, or max' }),
      [['cg pids --max 100', 'at most 100 processes in boxkit/default']]),
    controllerCmd('cpuset', 'pin to CPUs and memory nodes (cpuset.cpus, cpuset.mems)', (y) =>
      y.option('cpus', { type: 'string', describe: 'CPU list: 0, 0-1, 0,2' }).option('mems', { type: 'string', describe: 'memory node list, e.g. 0' }),
      [['cg cpuset web --cpus 1', 'run group web on CPU 1 only']]),
    controllerCmd('io', 'throttle block I/O (v1 blkio.throttle.*, v2 io.max)', (y) =>
      y.option('device', { type: 'string', describe: 'MAJ:MIN or a /dev path' })
        .option('read-bps', { type: 'string', describe: 'bytes/s, e.g. 1M, or max' }).option('write-bps', { type: 'string', describe: 'bytes/s' })
        .option('read-iops', { type: 'string', describe: 'I/O operations/s' }).option('write-iops', { type: 'string', describe: 'I/O operations/s' })
        .option('weight', { type: 'string', describe: 'blkio weight 10..1000 (v2: io.weight = 1 + (w-10)*9999/990)' }),
      [['cg io web --device 8:0 --read-bps 1M', 'reads from 8:0 at most 1 MiB/s']]),
    controllerCmd('devices', 'allow or deny device access (v1 devices.allow / devices.deny; v2 an eBPF program)', (y) =>
      y.option('allow', { type: 'string', array: true, describe: "rule 'TYPE MAJ:MIN ACCESS', e.g. 'c 1:3 rwm'" })
        .option('deny', { type: 'string', array: true, describe: "rule, or 'a' for everything" }),
      [["cg devices web --deny a --allow 'c 1:3 rwm'", 'only /dev/null']]),
    command({
      command: 'create <group>',
      describe: 'create a group (in every hierarchy) with docker-style limits; idempotent',
      builder: (y) => withLimitFlags(group(y)),
      examples: [['cg create web --cpus 0.5 --memory 64M --pids 100', 'half a CPU, 64 MiB, 100 tasks'], ['cg create t1 --parent self --memory 32M --dry-run', 'under the caller\'s own cgroup']],
      run: async (a) => (await import('./commands/create.js')).runCreate(a as never, 'create'),
    }),
    command({
      command: 'set <group>',
      describe: 'change the limits of a group (creating it if needed)',
      builder: (y) => withLimitFlags(group(y)),
      examples: [['cg set web --memory 128M', 'raise the memory limit']],
      run: async (a) => (await import('./commands/create.js')).runCreate(a as never, 'set'),
    }),
    command({
      command: ['rm <group>', 'delete'],
      describe: 'remove a group from every hierarchy (gone already: success)',
      builder: (y) => group(y).option('kill', { type: 'boolean', describe: 'SIGKILL the processes still in it' })
        .option('move', { type: 'boolean', describe: 'move the processes still in it to the parent' }).conflicts('kill', 'move'),
      examples: [['cg rm web', 'fails if processes remain'], ['cg rm web --kill', 'kill them first']],
      run: async (a) => (await import('./commands/rm.js')).runRm(a as never),
    }),
    command({
      command: 'ls',
      describe: 'list groups (under --parent) with their controllers and process counts',
      builder: (y) => withParent(y),
      examples: [['cg ls', 'groups under <hierarchy>/boxkit'], ['cg ls --json', 'as JSON']],
      run: async (a) => (await import('./commands/ls.js')).runLs(a as never),
    }),
    command({
      command: 'show <group>',
      describe: 'limits (as read back from the kernel) and usage of a group',
      builder: (y) => group(y),
      examples: [['cg show web', 'limits, usage, paths']],
      run: async (a) => (await import('./commands/show.js')).runShow(a as never),
    }),
    command({
      command: 'stats [group]',
      describe: 'usage: CPU time and %, throttling, memory current/peak/failcnt/OOM kills, pids',
      builder: (y) => group(y, false).option('watch', { alias: 'w', type: 'boolean', describe: 'print a line every interval until interrupted' })
        .option('interval', { type: 'number', default: 1, describe: 'seconds between readings' })
        .option('count', { type: 'number', describe: 'with --watch: stop after N lines' }),
      examples: [['cg stats web', 'one reading (CPU % over --interval)'], ['cg stats web --watch --interval 0.5', 'like docker stats']],
      run: async (a) => (await import('./commands/show.js')).runStats(a as never),
    }),
    command({
      command: 'attach <group> [pids..]',
      describe: 'move processes into the group in every hierarchy (- reads PIDs from stdin)',
      builder: (y) => withParent(y.positional('group', { type: 'string' }).positional('pids', { type: 'string', array: true })),
      examples: [['echo $$ | cg attach web -', "the article's echo $$ >> cgroup.procs"], ['cg attach web 1234 1235', 'two processes']],
      run: async (a) => (await import('./commands/attach.js')).runAttach(a as never),
    }),
    command({
      command: 'exec <group>',
      describe: 'run a command inside the group (like cgexec); creates it with the limits given',
      builder: (y) => withLimitFlags(group(y)),
      examples: [['cg exec web --cpus 0.5 -- sh -c "while :; do :; done"', 'a busy loop at half a CPU'], ['cg exec t --memory 32M -- ./alloc', 'exit 137 when OOM-killed']],
      runsCommand: true,
      run: async (a) => (await import('./commands/exec.js')).runExec(a as never),
    }),
    command({
      command: 'freeze [group]',
      describe: 'stop every process in the group (freezer.state / cgroup.freeze)',
      builder: (y) => group(y, false),
      examples: [['cg freeze web', 'returns once the group is frozen']],
      run: async (a) => (await import('./commands/freeze.js')).runFreeze(a as never, true),
    }),
    command({
      command: 'thaw [group]',
      describe: 'resume a frozen group',
      builder: (y) => group(y, false),
      examples: [['cg thaw web', 'returns once it runs again']],
      run: async (a) => (await import('./commands/freeze.js')).runFreeze(a as never, false),
    }),
  ],
};

/** `cg exec G sh -c x`: the `--` put before the command (fast.ts execArgv), so yargs never reads `-c` as cg's. */
export function yargsMain(argv: string[]): Promise<never> {
  return main(tool, execArgv(argv));
}

// building dist/wiring.blob: run yargsMain when the blob is deserialized (`node --snapshot-blob B -- ARGS`
// leaves argv = [node, ...ARGS]), as main() registers itself, with exec's argv made explicit first
if (startupSnapshot?.isBuildingSnapshot()) {
  startupSnapshot.setDeserializeMainFunction(() => void yargsMain(process.argv.slice(1)));
  preresolveTrampoline();
}
