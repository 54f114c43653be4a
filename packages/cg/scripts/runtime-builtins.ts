/**
 * The builtins a start from cg's cli.blob (`cg exec`) can compile beyond the
 * hand-off to the yargs wiring (tsup.base.ts HANDOFF_BUILTINS): none, as
 * NODE_DEBUG_NATIVE=CODE_CACHE lists them for exec with every limit, --json,
 * --dry-run and a failing command. The blob keeps the code cache of the
 * hand-off's only; the other entries were read, copied and freed by every start.
 */
export const CLI_RUNTIME_BUILTINS: string[] = [];
