/**
 * The builtins a start from ns-clone's cli.blob (`ns-clone [FLAGS] -- CMD`,
 * --detach, --wait-for-setup, --user, --KIND=PATH, --json, --dry-run) can
 * compile beyond the hand-off to the yargs wiring (tsup.base.ts
 * HANDOFF_BUILTINS): rimraf (`--cgroup`), as NODE_DEBUG_NATIVE=CODE_CACHE
 * lists them. The blob keeps the code cache of these only; the other entries
 * were read, copied and freed by every start.
 */
export const CLI_RUNTIME_BUILTINS = ['internal/fs/rimraf'];
