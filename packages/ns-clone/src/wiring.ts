/** The yargs wiring: help, validation and the subcommands. Loaded only when the fast path declines. */
import { main, command } from '@boxkit/common';
import type { Argv } from 'yargs';
import { startupSnapshot } from 'node:v8';
import pkg from '../package.json' with { type: 'json' };
import { RUN_OPTIONS } from './options.js';

/** CMD: words yargs left over after the command name(s), then everything after `--`. */
const commandOf = (a: { _?: (string | number)[]; '--'?: (string | number)[] }, skip: number) =>
  [...(a._ ?? []).slice(skip), ...(a['--'] ?? [])].map(String);

const NS_BOOL = ['mount', 'uts', 'ipc', 'pid', 'net', 'user', 'cgroup', 'time'] as const;

/** yargs reads `--no-new-privs` as new-privs=false: declared (hidden) so that strict parsing takes it; help shows --no-new-privs. */
const NEW_PRIVS = { type: 'boolean', hidden: true } as const;

const runCmd = command({
  command: '$0',
  describe: 'run COMMAND in new namespaces (default: your shell)',
  runsCommand: true,
  builder: (y) => {
    let b = y as Argv;
    for (const [name, o] of Object.entries(RUN_OPTIONS)) {
      if (name === 'dry-run' || name === 'json' || name === 'verbose') continue;
      b = b.option(name, { type: o.type, describe: o.describe, group: o.group, ...(o.alias ? { alias: o.alias } : {}), ...(o.default !== undefined ? { default: o.default } : {}) });
    }
    return b.option('new-privs', NEW_PRIVS) as never;
  },
  examples: [
    ['ns-clone --uts --pid --ipc -- bash', 'the article\'s mybash: new UTS, PID and IPC namespaces'],
    ['ns-clone --hostname web --pid --mount --net -- sh -c \'hostname; echo $$; ip -o link\'', 'a hostname, PID 1, only lo'],
    ['ns-clone --root ./rootfs --pid --init --net -- /bin/sh', 'pivot_root into a busybox rootfs with an init at PID 1'],
    ['ns-clone --user --map-root-user --pid --mount -- id -u', 'rootless: prints 0'],
    ['ns-clone --netns ns1 --root ./mnt -- /bin/sh', 'the article\'s `ip netns exec ns1 chroot ./mnt /bin/mybash`'],
    ['ns-clone --net=/run/netns/x -- true', 'make a network namespace that outlives its process'],
    ['ns-clone --dry-run --user -r --root ./rootfs --pid -- /bin/sh', 'print the plan as shell commands'],
  ],
  run: async (a) => (await import('./commands/run.js')).runCommand({ ...a, '--': commandOf(a, 0) }),
});

const enterCmd = command({
  command: 'enter [target]',
  describe: 'run COMMAND in the namespaces of process PID (like nsenter --target PID)',
  runsCommand: true,
  builder: (y) => {
    let b = (y as Argv).positional('target', { type: 'string', describe: 'the target process (host pid, or - to read it from stdin)' });
    // nsenter's short flags: the same letters as the default command's (unshare's)
    for (const n of NS_BOOL) b = b.option(n, { type: 'boolean', alias: RUN_OPTIONS[n]!.alias!, describe: `join its ${n === 'mount' ? 'mnt' : n} namespace`, group: 'Namespaces:' });
    return b
      .option('all', { type: 'boolean', alias: 'a', describe: 'join every namespace that differs from ours', group: 'Namespaces:' })
      .option('wd', { type: 'string', alias: 'w', describe: 'working directory inside (default: its root with --mount)' })
      .option('uid', { type: 'number', describe: 'uid inside (default 0 when joining a user namespace)' })
      .option('gid', { type: 'number', describe: 'gid inside' })
      .option('setenv', { type: 'array', describe: 'NAME=VALUE (repeatable)' })
      .option('env-clear', { type: 'boolean', describe: 'start with an empty environment' })
      .option('no-new-privs', { type: 'boolean', describe: 'set PR_SET_NO_NEW_PRIVS: setuid bits and file capabilities stop working for CMD' })
      .option('new-privs', NEW_PRIVS)
      .option('stop-timeout', { type: 'number', default: 10, describe: 'seconds after SIGINT/SIGTERM before SIGKILL' }) as never;
  },
  examples: [
    ['ns-clone enter 1234 --all -- sh', 'nsenter --target 1234 --all sh'],
    ['ns-clone enter 1234 --mount --pid --uts --net --ipc -- ps', 'the article\'s nsenter line'],
  ],
  run: async (a) => (await import('./commands/enter.js')).enterCommand({ ...a, '--': commandOf(a, 1) } as never),
});

const releaseCmd = command({
  command: 'release <target>',
  describe: 'let a child started with --wait-for-setup run its command (TARGET: its pid or fifo, or - to read it from stdin)',
  builder: (y) => (y as Argv).positional('target', { type: 'string', describe: 'pid printed by ns-clone, the fifo path, or - (stdin)' })
    .option('abort', { type: 'boolean', describe: 'make it exit 125 without running its command' }) as never,
  examples: [
    ['pid=$(ns-clone -d --wait-for-setup --net -- sleep 60); ns-clone release $pid', 'configure, then release'],
    ['ns-clone release $pid --abort --dry-run', 'show what aborting it would do'],
  ],
  run: async (a) => (await import('./commands/release.js')).releaseCommand(a as never),
});

const tool = { name: 'ns-clone', version: pkg.version, description: pkg.description, commands: [runCmd, enterCmd, releaseCmd] };

export function yargsMain(argv: string[]): Promise<never> {
  return main(tool, argv);
}

// building dist/wiring.blob: main() registers itself to run when the blob is deserialized
if (startupSnapshot?.isBuildingSnapshot()) void main(tool);
