/**
 * The builtins a start from run's cli.blob (`run [OPTIONS] -- CMD`) can
 * compile beyond the hand-off to the yargs wiring (tsup.base.ts
 * HANDOFF_BUILTINS): rimraf, when a start fails and its data dir goes. `run
 * --rm`, `-d`, `--net bridge -p` and `-it` compile none
 * (NODE_DEBUG_NATIVE=CODE_CACHE; tests/cli/snapshot.test.ts). The blob keeps
 * the code cache of these only: 196 entries (1 MB) -> 6, run --rm --
 * /bin/true 0.95x (40 rounds interleaved).
 */
export const CLI_RUNTIME_BUILTINS = ['internal/fs/rimraf'];
