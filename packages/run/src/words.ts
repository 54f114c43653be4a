/**
 * The first word of run's command line, read as a docker user means it.
 * `run CMD` runs CMD in a new container, so a subcommand typed after a
 * common flag (`run --json rm web`) and a docker verb run does not have
 * (`run start web`, `run kill web`) used to start a container running
 * `rm`, `start` or `kill`: a subcommand is found after common flags, and a
 * docker verb is refused unless the command comes after `--`.
 */

/** run's subcommands (cli.ts routes these to the yargs wiring). */
export const SUBCOMMAND_WORDS = new Set(['rootfs', 'ps', 'ls', 'exec', 'logs', 'stop', 'rm', 'inspect', 'gc']);

/** Flags every subcommand takes, which a user may type before the subcommand (`run --help ps`: ps's help). */
const LEADING = new Set(['--json', '--dry-run', '--verbose', '-v', '--help', '-h']);

/** docker's container and engine verbs that run has no subcommand for. */
const DOCKER_VERBS = new Set([
  'attach', 'build', 'commit', 'container', 'cp', 'create', 'diff', 'events', 'export', 'history', 'image', 'images',
  'import', 'info', 'kill', 'load', 'login', 'logout', 'network', 'pause', 'port', 'pull', 'push', 'rename', 'restart',
  'rmi', 'run', 'save', 'search', 'start', 'stats', 'system', 'tag', 'top', 'unpause', 'update', 'version', 'volume', 'wait',
]);

export type Words = { argv: string[] } | { refuse: string; hint: string };

/** `argv` with a subcommand typed after common flags moved first, or why it is refused. */
export function readWords(argv: readonly string[]): Words {
  let i = 0;
  while (i < argv.length && LEADING.has(argv[i]!)) i++;
  const word = argv[i];
  if (word === undefined) return { argv: [...argv] };
  // `run help exec`: exec's help; `run help` (and `help WORD`): run's (yargs took the words for a container's command)
  if (word === 'help') return { argv: SUBCOMMAND_WORDS.has(argv[i + 1] ?? '') ? [argv[i + 1]!, '--help'] : ['--help'] };
  if (SUBCOMMAND_WORDS.has(word)) return { argv: i ? [word, ...argv.slice(0, i), ...argv.slice(i + 1)] : [...argv] };
  if (DOCKER_VERBS.has(word)) {
    const rest = argv.slice(i);
    return {
      refuse: `'${word}' is not a run command (run has ${[...SUBCOMMAND_WORDS].join(', ')})`,
      hint: `to run a program named ${word} in a new container: run ${[...argv.slice(0, i), '--', ...rest].join(' ')}`,
    };
  }
  return { argv: [...argv] };
}
